import type { SealedEntry } from './batch.js';
import type { ApprovalUse, ChainHead, CompleteRequest, ReserveRequest, SealedReceipt } from './types.js';

/** The synchronous part of a better-sqlite3 connection the batches use. */
export interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): { immediate(...args: A): R };
}

export interface SqliteStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
}

/** One queued write of a batch, as the SQLite hot path needs it. */
export type SqliteBatchOp =
  | { kind: 'reserve'; request: ReserveRequest; id: string }
  | { kind: 'complete'; request: CompleteRequest; receipt: SealedReceipt | null }
  | { kind: 'record'; receipt: SealedReceipt };

export type SqliteBatchResult =
  // The store builds the record from what it sent: the answer stays small (it crosses threads).
  // A retry finding the row its lost first attempt wrote answers with that row.
  | { kind: 'reserved'; row?: Record<string, unknown> }
  | { kind: 'existing'; row: Record<string, unknown> }
  | { kind: 'approval_exhausted'; approvalId: string; maxUses: number }
  | { kind: 'completed'; applied: boolean }
  | { kind: 'recorded' };

export interface SqliteBatchContext {
  owner: string;
  leaseMs: number;
  storePayloads: boolean;
  now: number;
  /** Every sealed receipt of the batch with what it records, in chain order. */
  receipts: readonly SealedEntry[];
  /** The head the receipts were sealed after; the batch is refused unless it is the stored head. */
  sealedFrom: ChainHead | null;
}

/**
 * Writes a whole batch in one `BEGIN IMMEDIATE … COMMIT` with statements prepared once (on
 * the SQLite write thread's own connection). The database decides every race — the unique key
 * on (tenant, nonce), the conditional use count — so other connections and processes on the
 * same file are safe.
 */
export class SqliteBatchWriter {
  readonly #insertExecution: SqliteStatement;
  readonly #selectExecution: SqliteStatement;
  readonly #consumeApproval: SqliteStatement;
  readonly #deleteExecution: SqliteStatement;
  readonly #completeExecution: SqliteStatement;
  readonly #insertReceipt: SqliteStatement;
  readonly #chainHead: SqliteStatement;
  readonly #checkpoint: SqliteStatement;
  readonly #write: (ops: readonly SqliteBatchOp[], context: SqliteBatchContext) => SqliteBatchResult[];

  constructor(connection: SqliteConnection, selectRecord: string) {
    this.#insertExecution = connection.prepare(
      'INSERT INTO "executions" ("id", "tenant", "nonce", "action", "request_digest", "approval_id", "state", "owner", ' +
        `"lease_expires_at", "created_at", "payload") VALUES (?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?, ?) ` +
        'ON CONFLICT ("tenant", "nonce") DO NOTHING',
    );
    this.#selectExecution = connection.prepare(`${selectRecord} WHERE e."tenant" = ? AND e."nonce" = ?`);
    this.#consumeApproval = connection.prepare(
      'INSERT INTO "approval_uses" ("tenant", "approval_id", "issuer", "max_uses", "uses", "expires_at", "created_at") ' +
        'VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT ("tenant", "approval_id") DO UPDATE SET "uses" = "approval_uses"."uses" + 1 ' +
        'WHERE "approval_uses"."uses" < "approval_uses"."max_uses" ' +
        // One id, one approval: an id reused by another approver, or re-issued with another max,
        // is refused rather than counted into this one's uses.
        'AND "approval_uses"."issuer" = excluded."issuer" AND "approval_uses"."max_uses" = excluded."max_uses" RETURNING "uses"',
    );
    this.#deleteExecution = connection.prepare('DELETE FROM "executions" WHERE "id" = ?');
    // Only the owner completes, only from reserved (or indeterminate after a lease ran out while
    // it was still running: the owner's outcome is the truth), never over an operator's resolution.
    this.#completeExecution = connection.prepare(
      'UPDATE "executions" SET "state" = ?, "result_digest" = ?, "error_code" = ?, "response_status" = ?, ' +
        '"response_body" = ?, "completed_at" = ?, "receipt_chain" = ?, "receipt_seq" = ? ' +
        `WHERE "id" = ? AND "owner" = ? AND "state" IN ('reserved', 'indeterminate') AND "resolved_by" IS NULL`,
    );
    this.#insertReceipt = connection.prepare(
      'INSERT INTO "receipts" ("chain", "seq", "hash", "execution_id", "outcome", "body", "created_at") VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.#chainHead = connection.prepare(
      'SELECT "seq", "hash" FROM "receipts" WHERE "chain" = ? ORDER BY "seq" DESC LIMIT 1',
    );
    this.#checkpoint = connection.prepare('PRAGMA wal_checkpoint(PASSIVE)');
    this.#write = connection.transaction((ops: readonly SqliteBatchOp[], context: SqliteBatchContext) =>
      this.#writeInTransaction(ops, context),
    ).immediate;
  }

  write(ops: readonly SqliteBatchOp[], context: SqliteBatchContext): SqliteBatchResult[] {
    return this.#write(ops, context);
  }

  /**
   * Copies the WAL's committed pages into the database file as far as no reader still needs
   * the old ones; never waits for a lock.
   */
  checkpoint(): void {
    this.#checkpoint.get();
  }

  /** The last stored receipt of `chain`, or null for an empty chain. */
  storedHead(chain: string): ChainHead | null {
    const row = this.#chainHead.get(chain) as { seq: bigint | number; hash: string } | undefined;
    return row ? { seq: Number(row.seq), hash: row.hash } : null;
  }

  #writeInTransaction(ops: readonly SqliteBatchOp[], context: SqliteBatchContext): SqliteBatchResult[] {
    const { now } = context;
    const first = context.receipts[0];
    if (first) {
      // Another writer of this chain (two processes with one instance id) would otherwise fork
      // it or leave a gap: the batch writes nothing and is sealed again from the stored head.
      const stored = this.storedHead(first.chain);
      const from = context.sealedFrom;
      if (stored?.seq !== from?.seq || stored?.hash !== from?.hash) {
        throw Object.assign(new Error('the receipt chain moved since this batch was sealed'), {
          code: 'ERR_STALE_CHAIN_HEAD',
        });
      }
    }
    // Receipts first: a completion refers to its receipt row.
    for (const r of context.receipts) {
      this.#insertReceipt.run(r.chain, r.seq, r.hash, r.executionId, r.outcome, r.body, now);
    }
    return ops.map((op): SqliteBatchResult => {
      if (op.kind === 'record') return { kind: 'recorded' };
      if (op.kind === 'complete') {
        const { request, receipt } = op;
        const { changes } = this.#completeExecution.run(
          request.state,
          request.resultDigest,
          request.errorCode,
          request.responseStatus,
          request.responseBody,
          now,
          receipt?.chain ?? null,
          receipt?.seq ?? null,
          request.id,
          context.owner,
        );
        return { kind: 'completed', applied: changes === 1 };
      }
      return this.#reserve(op.request, op.id, context);
    });
  }

  #reserve(request: ReserveRequest, id: string, context: SqliteBatchContext): SqliteBatchResult {
    const { now } = context;
    const leaseExpiresAt = now + context.leaseMs;
    const approval = request.approval ?? null;
    const { changes } = this.#insertExecution.run(
      id,
      request.tenant,
      request.nonce,
      request.action,
      request.requestDigest,
      approval?.id ?? null,
      context.owner,
      leaseExpiresAt,
      now,
      context.storePayloads ? (request.payload ?? null) : null,
    );
    if (changes === 0) {
      const row = this.#selectExecution.get(request.tenant, request.nonce) as
        | Record<string, unknown>
        | undefined;
      if (!row) throw new Error('a conflicting (tenant, nonce) row was not found inside its transaction');
      // Its own row, written by an earlier attempt whose answer was lost, is its reservation
      // (and that attempt counted the approval use).
      return row.id === id ? { kind: 'reserved', row } : { kind: 'existing', row };
    }
    if (approval && !this.#consume(request.tenant, approval, now)) {
      // Same transaction: the reservation disappears with the refusal, leaving no trace of a run.
      this.#deleteExecution.run(id);
      return { kind: 'approval_exhausted', approvalId: approval.id, maxUses: approval.maxUses };
    }
    return { kind: 'reserved' };
  }

  /** Counts one use; false when the approval has none left. */
  #consume(tenant: string, approval: ApprovalUse, now: number): boolean {
    return (
      this.#consumeApproval.get(
        tenant,
        approval.id,
        approval.issuer,
        approval.maxUses,
        approval.expiresAt,
        now,
      ) !== undefined
    );
  }
}
