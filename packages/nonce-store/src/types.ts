export type ExecutionState = 'reserved' | 'succeeded' | 'failed' | 'indeterminate';

export interface ApprovalUse {
  /** v1 `jti` or legacy `approval_id`. */
  id: string;
  issuer: string;
  maxUses: number;
  /** Epoch ms; the use counter is kept at least until then. */
  expiresAt: number;
}

export interface ReserveRequest {
  tenant: string;
  nonce: string;
  action: string;
  requestDigest: string;
  /** Stored only when the operator opted in to keeping payloads. */
  payload?: string | null;
  approval?: ApprovalUse | null;
}

export interface ExecutionRecord {
  id: string;
  tenant: string;
  nonce: string;
  action: string;
  requestDigest: string;
  approvalId: string | null;
  state: ExecutionState;
  owner: string;
  leaseExpiresAt: number;
  createdAt: number;
  completedAt: number | null;
  resultDigest: string | null;
  errorCode: string | null;
  responseStatus: number | null;
  responseBody: string | null;
  /** The signed receipt of its outcome (JSON text), when receipts are enabled. */
  receipt: string | null;
}

export type ReserveResult =
  /** This caller won the nonce (and consumed one use of the approval): it, and only it, runs the handler. */
  | { kind: 'reserved'; execution: ExecutionRecord }
  /** The nonce was taken before: answer from the record, never run again. */
  | { kind: 'existing'; execution: ExecutionRecord }
  /** The approval has no use left; nothing was reserved. */
  | { kind: 'approval_exhausted'; approvalId: string; maxUses: number };

export interface CompleteRequest {
  id: string;
  /** Sealed and stored in the same transaction as the outcome. */
  receipt?: ReceiptDraft;
  state: 'succeeded' | 'failed';
  resultDigest: string | null;
  errorCode: string | null;
  responseStatus: number;
  responseBody: string;
}

export interface ResolveRequest {
  tenant: string;
  nonce: string;
  state: 'succeeded' | 'failed';
  operator: string;
  responseStatus: number;
  responseBody: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

/** What the caller wants recorded; `fields` is opaque to the store and handed to the sealer. */
export interface ReceiptDraft {
  executionId: string | null;
  outcome: string;
  fields: unknown;
}

export interface SealedReceipt {
  chain: string;
  seq: number;
  hash: string;
  /** The signed receipt, JSON text. */
  body: string;
}

/**
 * Turns drafts into signed, chained receipts, continuing from `head` (null: empty chain).
 * Injected so the store needs no signing code (built from a ReceiptSealerModule, on the SQLite
 * write thread or in the store's own thread for PostgreSQL); called for each batch just
 * before it is written, so it must be synchronous and free of I/O.
 */
export interface ReceiptSealer {
  readonly chain: string;
  seal(head: ChainHead | null, drafts: readonly ReceiptDraft[]): SealedReceipt[];
}

/**
 * Where a ReceiptSealer comes from: `(await import(module))[export](...args)` must return one
 * for `chain`. Named rather than passed as an object because SQLite batches are sealed and
 * written on a thread of their own, which builds its own sealer from this (args are copied to
 * it, so they must be plain data, e.g. a PEM string).
 */
export interface ReceiptSealerModule {
  readonly chain: string;
  /** A file: URL (the write thread resolves no package names of its own). */
  readonly module: string;
  readonly export: string;
  readonly args: readonly unknown[];
}

export interface SigningKeyRecord {
  kid: string;
  chain: string;
  publicJwk: string;
  notBefore: number;
  notAfter: number | null;
}
