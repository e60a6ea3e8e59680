// What a batch is made of, and how its receipts are sealed: shared by the store (PostgreSQL)
// and the SQLite write thread, which seals its own batches.
import type {
  ChainHead,
  CompleteRequest,
  ReceiptDraft,
  ReceiptSealer,
  ReceiptSealerModule,
  ReserveRequest,
  SealedReceipt,
} from './types.js';

export type BatchOp =
  | { kind: 'reserve'; request: ReserveRequest; id: string }
  | { kind: 'complete'; request: CompleteRequest }
  | { kind: 'record'; draft: ReceiptDraft };

export type SealedEntry = SealedReceipt & { executionId: string | null; outcome: string };

/** The receipt drafts of a batch, in op order: completions that carry one, and records. */
function draftsOf(ops: readonly BatchOp[]): ReceiptDraft[] {
  return ops.flatMap((op) =>
    op.kind === 'record'
      ? [op.draft]
      : op.kind === 'complete' && op.request.receipt
        ? [op.request.receipt]
        : [],
  );
}

/** Seals the batch's drafts after `head`, checking the sealer continued the chain one seq per draft. */
export function sealBatch(
  sealer: ReceiptSealer | null,
  head: ChainHead | null,
  ops: readonly BatchOp[],
): SealedEntry[] {
  const drafts = draftsOf(ops);
  if (drafts.length === 0) return [];
  if (!sealer) throw new TypeError('receipts were requested from a store opened without a receipt sealer');
  const sealed = sealer.seal(head, drafts);
  const first = (head?.seq ?? 0) + 1;
  if (
    sealed.length !== drafts.length ||
    sealed.some((receipt, i) => receipt.seq !== first + i || receipt.chain !== sealer.chain)
  ) {
    throw new TypeError('the receipt sealer did not continue the chain one seq per draft');
  }
  return sealed.map((receipt, i) => ({
    chain: receipt.chain,
    seq: receipt.seq,
    hash: receipt.hash,
    body: receipt.body,
    executionId: drafts[i]?.executionId ?? null,
    outcome: drafts[i]?.outcome ?? '',
  }));
}

/** Which sealed receipt belongs to which op (same order as sealBatch). */
export function receiptsByOp(
  ops: readonly BatchOp[],
  sealed: readonly SealedEntry[],
): Array<SealedReceipt | null> {
  let next = 0;
  return ops.map((op) => {
    if (!(op.kind === 'record' || (op.kind === 'complete' && op.request.receipt))) return null;
    const entry = sealed[next++];
    return entry ? { chain: entry.chain, seq: entry.seq, hash: entry.hash, body: entry.body } : null;
  });
}

/** Builds the sealer a ReceiptSealerModule names; on any thread, since it is named by URL. */
export async function loadReceiptSealer(spec: ReceiptSealerModule): Promise<ReceiptSealer> {
  const module = (await import(spec.module)) as Record<string, unknown>;
  const factory = module[spec.export];
  if (typeof factory !== 'function')
    throw new TypeError(`${spec.module} does not export a function ${spec.export}`);
  const sealer = (await factory(...spec.args)) as ReceiptSealer;
  if (sealer?.chain !== spec.chain || typeof sealer.seal !== 'function') {
    throw new TypeError(`${spec.module}#${spec.export} did not return a sealer of chain ${spec.chain}`);
  }
  return sealer;
}
