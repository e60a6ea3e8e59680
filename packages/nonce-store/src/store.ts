import { type BatchOp, loadReceiptSealer, receiptsByOp, type SealedEntry, sealBatch } from './batch.js';
import { type Database, type OpenDatabaseOptions, openDatabase, type RawSql } from './database.js';
import { StoreError } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { migrate, pendingMigrations } from './migrate.js';
import { SqliteThread } from './sqlite-thread.js';
import type {
  ChainHead,
  CompleteRequest,
  ExecutionRecord,
  ExecutionState,
  ReceiptDraft,
  ReceiptSealer,
  ReceiptSealerModule,
  ReserveRequest,
  ReserveResult,
  ResolveRequest,
  SealedReceipt,
  SigningKeyRecord,
} from './types.js';
import { parseDatabaseUrl } from './url.js';
import { uuidv7 } from './uuid.js';

export interface ExecutionStoreOptions {
  /** OPENEXEC_DB_URL: sqlite:///x.db, sqlite:////abs/x.db, file:x.db, postgresql://... */
  url: string;
  /** Identifies this process among all processes sharing the database; must be unique among live ones. */
  owner: string;
  /** How long a reservation may stay `reserved` before it is declared `indeterminate`. */
  leaseMs: number;
  /** Keep full payloads (operator opt-in: they may hold secrets). */
  storePayloads?: boolean;
  maxBatch?: number;
  busyTimeoutMs?: number;
  transactionTimeoutMs?: number;
  poolSize?: number;
  /** Signs receipts; without it the store records outcomes without receipts. */
  receipts?: ReceiptSealerModule;
  /** Time source, for tests. */
  now?: () => number;
  cwd?: string;
}

export interface ExecutionStore {
  readonly dialect: 'sqlite' | 'postgresql';
  readonly owner: string;
  /** Atomically takes (tenant, nonce) and consumes one use of the approval; durable on return. */
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /** Stores the outcome of a reservation this process owns; durable on return. */
  complete(request: CompleteRequest): Promise<CompleteResult>;
  /** Appends a receipt for an attempt that stored nothing else (a refusal); durable on return. */
  record(draft: ReceiptDraft): Promise<SealedReceipt>;
  /** The committed head of this store's receipt chain. */
  chainHead(): ChainHead | null;
  receiptsOfExecution(executionId: string): Promise<string[]>;
  /** Receipts of a chain with seq in [from, to], in order, at most `limit`. */
  receiptPage(
    chain: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<Array<{ seq: number; body: string }>>;
  chains(): Promise<Array<{ chain: string; head: ChainHead }>>;
  saveCheckpoint(checkpoint: { chain: string; seq: number; head: string; body: string }): Promise<void>;
  latestCheckpoint(chain: string): Promise<{ seq: number; body: string } | null>;
  /** Records this process's receipt key (retiring the chain's previous key) and returns every key ever used. */
  registerSigningKey(key: { kid: string; chain: string; publicJwk: string }): Promise<SigningKeyRecord[]>;
  signingKeys(): Promise<SigningKeyRecord[]>;
  lookup(tenant: string, nonce: string): Promise<ExecutionRecord | null>;
  /** Marks `reserved` rows whose lease ran out as `indeterminate`; returns how many. */
  expireLeases(): Promise<number>;
  /** Marks this owner's `reserved` rows `indeterminate` (they were orphaned by a crash). */
  recoverOwned(): Promise<number>;
  /** Operator resolution of an indeterminate execution. */
  resolve(request: ResolveRequest): Promise<ExecutionRecord | null>;
  /** Indeterminate executions, oldest first (what an operator must look at). */
  listIndeterminate(limit?: number): Promise<ExecutionRecord[]>;
  /**
   * Retention: clears stored responses and payloads of executions completed before
   * `completedBefore` (the nonce row and its digests stay: replay protection never expires),
   * and forgets use counts of approvals expired before `approvalsExpiredBefore` (such an
   * approval can no longer verify, so it can no longer be used).
   */
  purge(options: {
    completedBefore: number;
    approvalsExpiredBefore: number;
  }): Promise<{ responsesCleared: number; approvalsForgotten: number }>;
  /** Ready when reachable and fully migrated. */
  ping(): Promise<{ ok: true } | { ok: false; reason: string }>;
  close(): Promise<void>;
}

export interface CompleteResult {
  applied: boolean;
  receipt: SealedReceipt | null;
}

type Op = BatchOp;
type ReserveOp = Extract<Op, { kind: 'reserve' }>;
type OpResult = ReserveResult | CompleteResult | SealedReceipt;

const COLUMNS =
  '"id", "tenant", "nonce", "action", "request_digest", "approval_id", "state", "owner", "lease_expires_at", ' +
  '"created_at", "completed_at", "result_digest", "error_code", "response_status", "response_body"';
// A record with the signed receipt of its outcome.
const SELECT_RECORD =
  `SELECT ${COLUMNS.replace(/"(\w+)"/g, 'e."$1"')}, r."body" AS "receipt" FROM "executions" e ` +
  'LEFT JOIN "receipts" r ON r."chain" = e."receipt_chain" AND r."seq" = e."receipt_seq"';

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

export async function openExecutionStore(options: ExecutionStoreOptions): Promise<ExecutionStore> {
  const location = parseDatabaseUrl(options.url, options.cwd);
  const dbOptions: OpenDatabaseOptions = {
    busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    transactionTimeoutMs: options.transactionTimeoutMs ?? 15_000,
    poolSize: options.poolSize ?? 10,
  };
  let db: Database;
  try {
    db = await openDatabase(location, dbOptions);
    await migrate(db);
  } catch (error) {
    if (error instanceof StoreError) throw error;
    throw new StoreError('ERR_STORE_UNAVAILABLE', `cannot open the database: ${describe(error)}`, {
      cause: error,
    });
  }
  let sealer: ReceiptSealer | null = null;
  try {
    if (options.receipts && location.dialect !== 'sqlite') sealer = await loadReceiptSealer(options.receipts);
  } catch (error) {
    await db.close();
    throw error;
  }
  const store = new PrismaExecutionStore(
    db,
    options,
    location.dialect === 'sqlite' ? location.file : null,
    sealer,
  );
  await store.loadChainHead();
  await store.recoverOwned();
  return store;
}

class PrismaExecutionStore implements ExecutionStore {
  readonly dialect: 'sqlite' | 'postgresql';
  readonly owner: string;
  readonly #db: Database;
  readonly #leaseMs: number;
  readonly #storePayloads: boolean;
  readonly #now: () => number;
  readonly #writer: GroupCommit<Op, OpResult>;
  /** PostgreSQL: seals in this thread. SQLite batches are sealed on the write thread. */
  readonly #sealer: ReceiptSealer | null;
  readonly #chain: string | null;
  /** SQLite: batches go to a write thread (PostgreSQL's go through the Prisma client). */
  readonly #sqliteThread: SqliteThread | null;
  /** Advanced only after the transaction holding the receipts has committed: seq stays gap-free. */
  #head: ChainHead | null = null;
  /** PostgreSQL: the receipt each op's last attempt sealed, to recognise it if that attempt committed. */
  readonly #sealedFor = new WeakMap<Op, SealedReceipt>();
  #closed = false;

  constructor(
    db: Database,
    options: ExecutionStoreOptions,
    sqliteFile: string | null,
    sealer: ReceiptSealer | null,
  ) {
    this.#db = db;
    this.dialect = db.dialect;
    this.owner = options.owner;
    this.#leaseMs = options.leaseMs;
    this.#storePayloads = options.storePayloads ?? false;
    this.#now = options.now ?? Date.now;
    this.#sealer = sealer;
    this.#chain = options.receipts?.chain ?? null;
    this.#sqliteThread = sqliteFile
      ? new SqliteThread({
          file: sqliteFile,
          busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
          selectRecord: SELECT_RECORD,
          sealer: options.receipts ?? null,
        })
      : null;
    // SQLite's write thread applies batches in the order sent and seals each from its own
    // committed head, so batches can queue there while one is written. What has queued is
    // split over three places, at least 8 operations each: this thread answers the first part
    // while the write thread seals and writes the next. One batch of everything made the two
    // threads take turns (docs/performance.md: about a fifth slower at 32 connections).
    // PostgreSQL seals here, from the committed head: one batch at a time.
    const maxBatch = options.maxBatch ?? 128;
    this.#writer = new GroupCommit(
      (ops) => this.#commitBatch(ops),
      sqliteFile ? { maxBatch, maxInFlight: 3, minBatch: 8 } : { maxBatch },
    );
  }

  reserve(request: ReserveRequest): Promise<ReserveResult> {
    this.#assertOpen();
    return this.#writer.submit({
      kind: 'reserve',
      request,
      id: uuidv7(this.#now()),
    }) as Promise<ReserveResult>;
  }

  complete(request: CompleteRequest): Promise<CompleteResult> {
    this.#assertOpen();
    return this.#writer.submit({ kind: 'complete', request }) as Promise<CompleteResult>;
  }

  record(draft: ReceiptDraft): Promise<SealedReceipt> {
    this.#assertOpen();
    if (!this.#chain) throw new TypeError('record() needs a store opened with a receipt sealer');
    return this.#writer.submit({ kind: 'record', draft }) as Promise<SealedReceipt>;
  }

  chainHead(): ChainHead | null {
    return this.#head ? { ...this.#head } : null;
  }

  async loadChainHead(): Promise<void> {
    if (!this.#chain) return;
    const rows = await this.#guard(() =>
      this.#db.raw.$queryRawUnsafe<Array<{ seq: unknown; hash: string }>>(
        `SELECT "seq", "hash" FROM "receipts" WHERE "chain" = ${this.#db.param(1)} ORDER BY "seq" DESC LIMIT 1`,
        this.#chain,
      ),
    );
    this.#head = rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
  }

  async receiptsOfExecution(executionId: string): Promise<string[]> {
    const rows = await this.#guard(() =>
      this.#db.models.receipt.findMany({
        where: { executionId },
        orderBy: [{ chain: 'asc' }, { seq: 'asc' }],
        select: { body: true },
      }),
    );
    return rows.map((row) => row.body);
  }

  async receiptPage(
    chain: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<Array<{ seq: number; body: string }>> {
    const rows = await this.#guard(() =>
      this.#db.models.receipt.findMany({
        where: { chain, seq: { gte: BigInt(from), lte: BigInt(to) } },
        orderBy: { seq: 'asc' },
        take: limit,
        select: { seq: true, body: true },
      }),
    );
    return rows.map((row) => ({ seq: Number(row.seq), body: row.body }));
  }

  async chains(): Promise<Array<{ chain: string; head: ChainHead }>> {
    const rows = await this.#guard(() =>
      this.#db.raw.$queryRawUnsafe<Array<{ chain: string; seq: unknown; hash: string }>>(
        'SELECT r."chain", r."seq", r."hash" FROM "receipts" r JOIN (SELECT "chain", MAX("seq") AS "seq" FROM "receipts" GROUP BY "chain") m ' +
          'ON m."chain" = r."chain" AND m."seq" = r."seq" ORDER BY r."chain"',
      ),
    );
    return rows.map((row) => ({ chain: row.chain, head: { seq: Number(row.seq), hash: row.hash } }));
  }

  async saveCheckpoint(checkpoint: {
    chain: string;
    seq: number;
    head: string;
    body: string;
  }): Promise<void> {
    const p = (i: number, cast?: 'bigint') => this.#db.param(i, cast);
    await this.#guard(() =>
      this.#db.raw.$executeRawUnsafe(
        `INSERT INTO "checkpoints" ("chain", "seq", "head", "body", "created_at") VALUES (${p(1)}, ${p(2, 'bigint')}, ${p(3)}, ${p(4)}, ${p(5, 'bigint')}) ` +
          'ON CONFLICT ("chain", "seq") DO NOTHING',
        checkpoint.chain,
        checkpoint.seq,
        checkpoint.head,
        checkpoint.body,
        this.#now(),
      ),
    );
  }

  async latestCheckpoint(chain: string): Promise<{ seq: number; body: string } | null> {
    const row = await this.#guard(() =>
      this.#db.models.checkpoint.findFirst({
        where: { chain },
        orderBy: { seq: 'desc' },
        select: { seq: true, body: true },
      }),
    );
    return row ? { seq: Number(row.seq), body: row.body } : null;
  }

  async registerSigningKey(key: {
    kid: string;
    chain: string;
    publicJwk: string;
  }): Promise<SigningKeyRecord[]> {
    const p = (i: number, cast?: 'bigint') => this.#db.param(i, cast);
    const now = this.#now();
    await this.#guard(() =>
      this.#db.transaction(async (tx) => {
        await tx.$executeRawUnsafe(
          `UPDATE "signing_keys" SET "not_after" = ${p(1, 'bigint')} WHERE "chain" = ${p(2)} AND "kid" <> ${p(3)} AND "not_after" IS NULL`,
          now,
          key.chain,
          key.kid,
        );
        await tx.$executeRawUnsafe(
          `INSERT INTO "signing_keys" ("kid", "chain", "public_jwk", "not_before", "not_after", "created_at") ` +
            `VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4, 'bigint')}, NULL, ${p(5, 'bigint')}) ON CONFLICT ("kid") DO NOTHING`,
          key.kid,
          key.chain,
          key.publicJwk,
          now,
          now,
        );
      }),
    );
    return this.signingKeys();
  }

  async signingKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.#guard(() =>
      this.#db.models.signingKey.findMany({ orderBy: { createdAt: 'asc' } }),
    );
    return rows.map((row) => ({
      kid: row.kid,
      chain: row.chain,
      publicJwk: row.publicJwk,
      notBefore: Number(row.notBefore),
      notAfter: row.notAfter === null ? null : Number(row.notAfter),
    }));
  }

  async lookup(tenant: string, nonce: string): Promise<ExecutionRecord | null> {
    const rows = await this.#guard(() =>
      this.#db.raw.$queryRawUnsafe<Row[]>(
        `${SELECT_RECORD} WHERE e."tenant" = ${this.#db.param(1)} AND e."nonce" = ${this.#db.param(2)}`,
        tenant,
        nonce,
      ),
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async expireLeases(): Promise<number> {
    const p = (i: number, cast?: 'bigint') => this.#db.param(i, cast);
    return this.#guard(() =>
      this.#db.raw.$executeRawUnsafe(
        `UPDATE "executions" SET "state" = 'indeterminate' WHERE "state" = 'reserved' AND "lease_expires_at" < ${p(1, 'bigint')}`,
        this.#now(),
      ),
    );
  }

  async recoverOwned(): Promise<number> {
    return this.#guard(() =>
      this.#db.raw.$executeRawUnsafe(
        `UPDATE "executions" SET "state" = 'indeterminate' WHERE "state" = 'reserved' AND "owner" = ${this.#db.param(1)}`,
        this.owner,
      ),
    );
  }

  async resolve(request: ResolveRequest): Promise<ExecutionRecord | null> {
    const p = (i: number, cast?: 'bigint' | 'int') => this.#db.param(i, cast);
    const rows = await this.#guard(() =>
      this.#db.raw.$queryRawUnsafe<Row[]>(
        `UPDATE "executions" SET "state" = ${p(1)}, "resolved_by" = ${p(2)}, "response_status" = ${p(3, 'int')}, ` +
          `"response_body" = ${p(4)}, "completed_at" = ${p(5, 'bigint')}, "error_code" = ${p(6)} ` +
          `WHERE "tenant" = ${p(7)} AND "nonce" = ${p(8)} AND "state" = 'indeterminate' RETURNING ${COLUMNS}`,
        request.state,
        request.operator,
        request.responseStatus,
        request.responseBody,
        this.#now(),
        request.state === 'failed' ? 'resolved_failed' : null,
        request.tenant,
        request.nonce,
      ),
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async listIndeterminate(limit = 100): Promise<ExecutionRecord[]> {
    // The state is a literal so that the partial index on indeterminate rows applies.
    const rows = await this.#guard(() =>
      this.#db.raw.$queryRawUnsafe<Row[]>(
        `${SELECT_RECORD} WHERE e."state" = 'indeterminate' ORDER BY e."created_at" LIMIT ${this.#db.param(1, 'int')}`,
        limit,
      ),
    );
    return rows.map(toRecord);
  }

  async purge(options: {
    completedBefore: number;
    approvalsExpiredBefore: number;
  }): Promise<{ responsesCleared: number; approvalsForgotten: number }> {
    const p = (i: number) => this.#db.param(i, 'bigint');
    return this.#guard(async () => {
      const responsesCleared = await this.#db.raw.$executeRawUnsafe(
        `UPDATE "executions" SET "response_body" = NULL, "payload" = NULL WHERE "completed_at" < ${p(1)} ` +
          `AND ("response_body" IS NOT NULL OR "payload" IS NOT NULL)`,
        options.completedBefore,
      );
      const approvalsForgotten = await this.#db.raw.$executeRawUnsafe(
        `DELETE FROM "approval_uses" WHERE "expires_at" < ${p(1)}`,
        options.approvalsExpiredBefore,
      );
      return { responsesCleared, approvalsForgotten };
    });
  }

  async ping(): Promise<{ ok: true } | { ok: false; reason: string }> {
    try {
      await this.#db.raw.$queryRawUnsafe('SELECT 1');
      const pending = await pendingMigrations(this.#db);
      return pending.length === 0
        ? { ok: true }
        : { ok: false, reason: `pending migrations: ${pending.join(', ')}` };
    } catch (error) {
      return { ok: false, reason: `database unreachable: ${describe(error)}` };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.drain();
    await this.#sqliteThread?.close();
    await this.#db.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreError('ERR_STORE_CLOSED', 'the execution store is closed');
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw asUnavailable(error);
    }
  }

  /**
   * One transaction for every queued operation. A failing batch is retried op by op, so one bad
   * op cannot sink the rest, and a batch whose commit answer was lost (it may have committed,
   * even a batch of one) is answered from what is stored. A batch that could not take SQLite's
   * write lock wrote nothing, and each op alone would wait the busy timeout again, one after
   * the other: it is refused as a whole.
   */
  async #commitBatch(ops: Op[]): Promise<Array<OpResult | Error>> {
    try {
      return await this.#transactionWithRetry(ops, false);
    } catch (error) {
      if (this.#sqliteThread && isLockTimeout(error)) return ops.map(() => asUnavailable(error));
      const results: Array<OpResult | Error> = [];
      for (const op of ops) {
        try {
          results.push(...(await this.#transactionWithRetry([op], true)));
        } catch (single) {
          results.push(asUnavailable(single));
        }
      }
      return results;
    }
  }

  /**
   * Writes `ops`, retrying a write that failed. A failed write may still have committed (its
   * answer lost with a connection or a write thread), so before each retry what is already
   * stored is answered from the database instead of being written and sealed again:
   * reservations (by the id this store gave the request) and completions (by their execution),
   * and on PostgreSQL every receipt an earlier attempt sealed (by its hash at its position in
   * the chain); then PostgreSQL's chain head is read back. These reads go through the request
   * thread's connection, which a SQLite write lock held elsewhere does not stop.
   */
  async #transactionWithRetry(ops: Op[], afterFailure: boolean): Promise<OpResult[]> {
    const results: Array<OpResult | undefined> = new Array(ops.length);
    let pending = ops.map((op, index) => ({ op, index }));
    for (let attempt = 1; ; attempt++) {
      let sealedFrom = this.#head;
      try {
        if (afterFailure || attempt > 1) {
          const pendingOps = pending.map((entry) => entry.op);
          const reservations = await this.#storedReservations(pendingOps);
          const completions = await this.#storedCompletions(pendingOps);
          const receipts = await this.#storedReceipts(pendingOps);
          pending = pending.filter(({ op, index }) => {
            const receipt = receipts.get(op);
            const done =
              op.kind === 'complete'
                ? // A stored receipt with no applied completion: the completion was committed
                  // and not applied (an operator had resolved the execution).
                  (completions.get(op.request.id) ?? (receipt ? { applied: false, receipt } : undefined))
                : op.kind === 'record'
                  ? receipt
                  : reservations.get(op.id);
            if (done) results[index] = done;
            return !done;
          });
          if (!this.#sqliteThread) await this.loadChainHead();
          sealedFrom = this.#head;
        }
        const written = pending.length > 0 ? await this.#write(pending.map((entry) => entry.op)) : [];
        pending.forEach(({ index }, i) => {
          results[index] = written[i];
        });
        return results as OpResult[];
      } catch (error) {
        // PostgreSQL aborts one of two deadlocked or conflicting transactions, the SQLite thread
        // refuses a batch sealed after a head that moved, and a PostgreSQL batch sealed after a
        // stale head (a commit whose answer was lost) collides with the stored receipts; each
        // wrote nothing, so running it again (after the checks above) is safe.
        if (attempt >= 4 || !(isRetryable(error) || (await this.#headMoved(sealedFrom)))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 10));
      }
    }
  }

  async #write(ops: Op[]): Promise<OpResult[]> {
    if (this.#sqliteThread) return this.#writeSqliteBatch(this.#sqliteThread, ops);
    // PostgreSQL: approval consumption is conditional (a refused use deletes the reservation
    // again), so it needs an interactive transaction; everything else is fixed statements.
    const interactive = ops.some((op) => op.kind === 'reserve' && op.request.approval);
    // Sealed afresh per attempt from the committed head, so a failed attempt leaves no gap.
    const sealed = sealBatch(this.#sealer, this.#head, ops);
    receiptsByOp(ops, sealed).forEach((receipt, index) => {
      if (receipt) this.#sealedFor.set(ops[index] as Op, receipt);
    });
    const results = interactive
      ? await this.#db.transaction((tx) => this.#writeBatch(tx, ops, sealed))
      : await this.#writeFixedBatch(ops, sealed);
    const last = sealed.at(-1);
    if (last) this.#head = { seq: last.seq, hash: last.hash };
    return results;
  }

  /** PostgreSQL: whether this chain's stored head is past the one a failed batch was sealed after. */
  async #headMoved(sealedFrom: ChainHead | null): Promise<boolean> {
    if (this.#sqliteThread || !this.#chain) return false;
    try {
      await this.loadChainHead();
    } catch {
      return false;
    }
    return this.#head?.seq !== sealedFrom?.seq;
  }

  /**
   * PostgreSQL: the ops among `ops` whose receipt, as an earlier attempt sealed it, is stored
   * (that attempt committed and its answer was lost), with that receipt. This chain has one
   * writer, so the same hash at the same seq is the same receipt.
   */
  async #storedReceipts(ops: Op[]): Promise<Map<Op, SealedReceipt>> {
    const stored = new Map<Op, SealedReceipt>();
    const sealed = ops.flatMap((op) => {
      const receipt = this.#sealedFor.get(op);
      return receipt ? [{ op, receipt }] : [];
    });
    if (sealed.length === 0 || !this.#chain) return stored;
    const p = (i: number, cast?: 'bigint') => this.#db.param(i, cast);
    const rows = await this.#db.raw.$queryRawUnsafe<Array<{ seq: unknown; hash: string }>>(
      `SELECT "seq", "hash" FROM "receipts" WHERE "chain" = ${p(1)} ` +
        `AND "seq" IN (${sealed.map((_, i) => p(i + 2, 'bigint')).join(', ')})`,
      this.#chain,
      ...sealed.map(({ receipt }) => receipt.seq),
    );
    const hashAt = new Map(rows.map((row) => [Number(row.seq), row.hash]));
    for (const { op, receipt } of sealed) {
      if (hashAt.get(receipt.seq) === receipt.hash) stored.set(op, receipt);
    }
    return stored;
  }

  /**
   * Completions among `ops` that this owner has already stored (by a write whose answer was
   * lost), with the receipt stored with them: a retry answers them as they are.
   */
  /** The reservations among `ops` already stored (by an attempt whose answer was lost), by id. */
  async #storedReservations(ops: Op[]): Promise<Map<string, ReserveResult>> {
    const ids = ops.flatMap((op) => (op.kind === 'reserve' ? [op.id] : []));
    const stored = new Map<string, ReserveResult>();
    if (ids.length === 0) return stored;
    const rows = await this.#db.raw.$queryRawUnsafe<Row[]>(
      `${SELECT_RECORD} WHERE e."id" IN (${ids.map((_, i) => this.#db.param(i + 1)).join(', ')})`,
      ...ids,
    );
    for (const row of rows) {
      const execution = toRecord(row);
      stored.set(execution.id, { kind: 'reserved', execution });
    }
    return stored;
  }

  async #storedCompletions(ops: Op[]): Promise<Map<string, CompleteResult>> {
    const ids = ops.flatMap((op) => (op.kind === 'complete' ? [op.request.id] : []));
    const stored = new Map<string, CompleteResult>();
    if (ids.length === 0) return stored;
    const p = (i: number) => this.#db.param(i);
    const rows = await this.#db.raw.$queryRawUnsafe<
      Array<{ id: string; chain: string | null; seq: unknown; hash: string | null; body: string | null }>
    >(
      'SELECT e."id", r."chain", r."seq", r."hash", r."body" FROM "executions" e ' +
        'LEFT JOIN "receipts" r ON r."chain" = e."receipt_chain" AND r."seq" = e."receipt_seq" ' +
        `WHERE e."id" IN (${ids.map((_, i) => p(i + 1)).join(', ')}) AND e."owner" = ${p(ids.length + 1)} ` +
        `AND e."state" IN ('succeeded', 'failed') AND e."resolved_by" IS NULL`,
      ...ids,
      this.owner,
    );
    for (const row of rows) {
      const receipt =
        row.chain !== null && row.hash !== null && row.body !== null
          ? { chain: row.chain, seq: Number(row.seq), hash: row.hash, body: row.body }
          : null;
      stored.set(row.id, { applied: true, receipt });
    }
    return stored;
  }

  /** Sealed and written on the thread; answered in the order sent, so the head only moves forward. */
  async #writeSqliteBatch(thread: SqliteThread, ops: Op[]): Promise<OpResult[]> {
    const context = {
      owner: this.owner,
      leaseMs: this.#leaseMs,
      storePayloads: this.#storePayloads,
      now: this.#now(),
    };
    const { results, sealed } = await thread.write(ops, context);
    const last = sealed.at(-1);
    if (last) this.#head = { seq: last.seq, hash: last.hash };
    const receiptOf = receiptsByOp(ops, sealed);
    return results.map((result, index): OpResult => {
      switch (result.kind) {
        case 'recorded':
          return receiptOf[index] as SealedReceipt;
        case 'completed':
          return { applied: result.applied, receipt: receiptOf[index] ?? null };
        case 'existing':
          return { kind: 'existing', execution: toRecord(result.row as Row) };
        case 'reserved':
          return {
            kind: 'reserved',
            execution: result.row
              ? toRecord(result.row as Row)
              : reservedRecord(ops[index] as ReserveOp, context),
          };
        default:
          return result;
      }
    });
  }

  /** Completions, receipts, reservations and the read-back of every reserved key, as one array transaction. */
  async #writeFixedBatch(ops: Op[], sealed: SealedEntry[]): Promise<OpResult[]> {
    const now = this.#now();
    const receiptOf = receiptsByOp(ops, sealed);
    const completes = ops.flatMap((op, index) =>
      op.kind === 'complete' ? [{ request: op.request, receipt: receiptOf[index] ?? null }] : [],
    );
    const reserves = ops.flatMap((op) => (op.kind === 'reserve' ? [op] : []));
    const statements: Array<{ sql: string; values: unknown[] }> = [];
    if (sealed.length > 0) statements.push(this.#receiptStatement(sealed, now));
    if (completes.length > 0) statements.push(this.#completionStatement(completes, now));
    if (reserves.length > 0) {
      statements.push(this.#reservationStatement(reserves, now));
      statements.push(this.#readBackStatement(reserves.map((op) => op.request)));
    }
    const answers = await this.#db.batch(statements);
    const completionRows =
      completes.length > 0 ? (answers[sealed.length > 0 ? 1 : 0] as Array<{ id: string }>) : [];
    const applied = new Set(completionRows.map((row) => row.id));
    const rows = reserves.length > 0 ? (answers[answers.length - 1] as Row[]) : [];
    const byKey = new Map(rows.map((row) => [`${row.tenant}\u0000${row.nonce}`, toRecord(row)]));
    return ops.map((op, index): OpResult => {
      if (op.kind === 'record') return receiptOf[index] as SealedReceipt;
      if (op.kind === 'complete')
        return { applied: applied.has(op.request.id), receipt: receiptOf[index] ?? null };
      const record = byKey.get(`${op.request.tenant}\u0000${op.request.nonce}`);
      if (!record)
        throw new StoreError('ERR_STORE_UNAVAILABLE', 'a reserved key was not found inside its transaction');
      return record.id === op.id
        ? { kind: 'reserved', execution: record }
        : { kind: 'existing', execution: record };
    });
  }

  async #writeBatch(tx: RawSql, ops: Op[], sealed: SealedEntry[]): Promise<OpResult[]> {
    const now = this.#now();
    const receiptOf = receiptsByOp(ops, sealed);
    const results: OpResult[] = new Array(ops.length);
    const completes: Array<{ index: number; request: CompleteRequest; receipt: SealedReceipt | null }> = [];
    const reserves: Array<[number, ReserveOp]> = [];
    ops.forEach((op, index) => {
      if (op.kind === 'complete')
        completes.push({ index, request: op.request, receipt: receiptOf[index] ?? null });
      else if (op.kind === 'reserve') reserves.push([index, op]);
      else results[index] = receiptOf[index] as SealedReceipt;
    });
    if (sealed.length > 0) {
      const { sql, values } = this.#receiptStatement(sealed, now);
      await tx.$executeRawUnsafe(sql, ...values);
    }
    if (completes.length > 0) {
      const { sql, values } = this.#completionStatement(completes, now);
      const applied = new Set(
        (await tx.$queryRawUnsafe<Array<{ id: string }>>(sql, ...values)).map((row) => row.id),
      );
      for (const { index, request, receipt } of completes)
        results[index] = { applied: applied.has(request.id), receipt };
    }
    if (reserves.length > 0) {
      await this.#writeReservations(tx, reserves, results, now);
    }
    return results;
  }

  #receiptStatement(sealed: SealedEntry[], now: number): { sql: string; values: unknown[] } {
    const p = (i: number, cast?: 'bigint') => this.#db.param(i, cast);
    const values: unknown[] = [];
    const tuples = sealed.map((receipt) => {
      const base = values.length;
      values.push(
        receipt.chain,
        receipt.seq,
        receipt.hash,
        receipt.executionId,
        receipt.outcome,
        receipt.body,
        now,
      );
      return `(${p(base + 1)}, ${p(base + 2, 'bigint')}, ${p(base + 3)}, ${p(base + 4)}, ${p(base + 5)}, ${p(base + 6)}, ${p(base + 7, 'bigint')})`;
    });
    return {
      sql: `INSERT INTO "receipts" ("chain", "seq", "hash", "execution_id", "outcome", "body", "created_at") VALUES ${tuples.join(', ')}`,
      values,
    };
  }

  #completionStatement(
    completes: Array<{ request: CompleteRequest; receipt: SealedReceipt | null }>,
    now: number,
  ): { sql: string; values: unknown[] } {
    const p = (i: number, cast?: 'bigint' | 'int') => this.#db.param(i, cast);
    const values: unknown[] = [];
    const tuples = completes.map(({ request, receipt }) => {
      const base = values.length;
      values.push(
        request.id,
        request.state,
        request.resultDigest,
        request.errorCode,
        request.responseStatus,
        request.responseBody,
        now,
        receipt?.chain ?? null,
        receipt?.seq ?? null,
      );
      return `(${p(base + 1)}, ${p(base + 2)}, ${p(base + 3)}, ${p(base + 4)}, ${p(base + 5, 'int')}, ${p(base + 6)}, ${p(base + 7, 'bigint')}, ${p(base + 8)}, ${p(base + 9, 'bigint')})`;
    });
    values.push(this.owner);
    // Only the owner completes, only from reserved (or indeterminate after a lease ran out while
    // it was still running: the owner's outcome is the truth), and never over an operator's resolution.
    const sql =
      `WITH v ("id", "state", "result_digest", "error_code", "response_status", "response_body", "completed_at", "receipt_chain", "receipt_seq") ` +
      `AS (VALUES ${tuples.join(', ')}) ` +
      `UPDATE "executions" SET "state" = v."state", "result_digest" = v."result_digest", "error_code" = v."error_code", ` +
      `"response_status" = v."response_status", "response_body" = v."response_body", "completed_at" = v."completed_at", ` +
      `"receipt_chain" = v."receipt_chain", "receipt_seq" = v."receipt_seq" ` +
      `FROM v WHERE "executions"."id" = v."id" AND "executions"."owner" = ${p(values.length)} ` +
      `AND "executions"."state" IN ('reserved', 'indeterminate') AND "executions"."resolved_by" IS NULL ` +
      `RETURNING "executions"."id"`;
    return { sql, values };
  }

  #reservationStatement(reserves: ReserveOp[], now: number): { sql: string; values: unknown[] } {
    const p = (i: number, cast?: 'bigint' | 'int') => this.#db.param(i, cast);
    // A fixed order keeps concurrent batches on PostgreSQL from deadlocking on each other's rows.
    const ordered = [...reserves].sort(
      (a, b) => compare(a.request.tenant, b.request.tenant) || compare(a.request.nonce, b.request.nonce),
    );
    const values: unknown[] = [];
    const tuples = ordered.map((op) => {
      const base = values.length;
      const r = op.request;
      values.push(
        op.id,
        r.tenant,
        r.nonce,
        r.action,
        r.requestDigest,
        r.approval?.id ?? null,
        this.owner,
        now + this.#leaseMs,
        now,
        this.#storePayloads ? (r.payload ?? null) : null,
      );
      return `(${p(base + 1)}, ${p(base + 2)}, ${p(base + 3)}, ${p(base + 4)}, ${p(base + 5)}, ${p(base + 6)}, 'reserved', ${p(base + 7)}, ${p(base + 8, 'bigint')}, ${p(base + 9, 'bigint')}, ${p(base + 10)})`;
    });
    const sql =
      `INSERT INTO "executions" ("id", "tenant", "nonce", "action", "request_digest", "approval_id", "state", "owner", "lease_expires_at", "created_at", "payload") ` +
      `VALUES ${tuples.join(', ')} ON CONFLICT ("tenant", "nonce") DO NOTHING RETURNING "id"`;
    return { sql, values };
  }

  #readBackStatement(requests: ReserveRequest[]): { sql: string; values: unknown[] } {
    const p = (i: number) => this.#db.param(i);
    const values: unknown[] = [];
    const pairs = requests.map((request) => {
      values.push(request.tenant, request.nonce);
      return `(${p(values.length - 1)}, ${p(values.length)})`;
    });
    return {
      sql: `${SELECT_RECORD} WHERE (e."tenant", e."nonce") IN (VALUES ${pairs.join(', ')})`,
      values,
    };
  }

  async #writeReservations(
    tx: RawSql,
    reserves: Array<[number, ReserveOp]>,
    results: OpResult[],
    now: number,
  ): Promise<void> {
    // In rounds: a request whose nonce went to another request of this batch, whose approval
    // then refused it (its row removed again), tries again in the next round, as it would have
    // coming a moment later (and as SQLite's one-by-one batches do).
    let round = reserves;
    while (round.length > 0) {
      const insert = this.#reservationStatement(
        round.map(([, op]) => op),
        now,
      );
      const won = new Set(
        (await tx.$queryRawUnsafe<Array<{ id: string }>>(insert.sql, ...insert.values)).map((row) => row.id),
      );
      for (const [index, op] of round) {
        const approval = op.request.approval;
        if (!won.has(op.id) || !approval) continue;
        if (!(await this.#consumeApproval(tx, op.request.tenant, approval, now))) {
          // Same transaction: the reservation disappears with the refusal, leaving no trace of a run.
          await tx.$executeRawUnsafe(`DELETE FROM "executions" WHERE "id" = ${this.#db.param(1)}`, op.id);
          results[index] = { kind: 'approval_exhausted', approvalId: approval.id, maxUses: approval.maxUses };
        }
      }
      const readBack = this.#readBackStatement(round.map(([, op]) => op.request));
      const rows = await tx.$queryRawUnsafe<Row[]>(readBack.sql, ...readBack.values);
      const byKey = new Map(rows.map((row) => [`${row.tenant}\u0000${row.nonce}`, toRecord(row)]));
      const next: typeof round = [];
      for (const [index, op] of round) {
        if (results[index]) continue;
        const record = byKey.get(`${op.request.tenant}\u0000${op.request.nonce}`);
        if (!record) {
          next.push([index, op]);
          continue;
        }
        // Its own row (won now, or written by an earlier attempt whose answer was lost) is its
        // reservation; any other row is the nonce's existing execution.
        results[index] =
          record.id === op.id
            ? { kind: 'reserved', execution: record }
            : { kind: 'existing', execution: record };
      }
      round = next;
    }
  }

  /** Counts one use in the database; false when the approval has none left. */
  async #consumeApproval(
    tx: RawSql,
    tenant: string,
    approval: NonNullable<ReserveRequest['approval']>,
    now: number,
  ): Promise<boolean> {
    const p = (i: number, cast?: 'bigint' | 'int') => this.#db.param(i, cast);
    const rows = await tx.$queryRawUnsafe<Array<{ uses: unknown }>>(
      `INSERT INTO "approval_uses" ("tenant", "approval_id", "issuer", "max_uses", "uses", "expires_at", "created_at") ` +
        `VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4, 'int')}, 1, ${p(5, 'bigint')}, ${p(6, 'bigint')}) ` +
        `ON CONFLICT ("tenant", "approval_id") DO UPDATE SET "uses" = "approval_uses"."uses" + 1 ` +
        `WHERE "approval_uses"."uses" < "approval_uses"."max_uses" ` +
        // One id, one approval: an id reused by another approver, or re-issued with another max,
        // is refused rather than counted into this one's uses.
        `AND "approval_uses"."issuer" = excluded."issuer" AND "approval_uses"."max_uses" = excluded."max_uses" RETURNING "uses"`,
      tenant,
      approval.id,
      approval.issuer,
      approval.maxUses,
      approval.expiresAt,
      now,
    );
    return rows.length === 1;
  }
}

interface Row {
  id: string;
  tenant: string;
  nonce: string;
  action: string;
  request_digest?: string;
  requestDigest?: string;
  [column: string]: unknown;
}

/** The row a reservation the SQLite thread answered `reserved` for inserted, as it inserted it. */
function reservedRecord(
  op: ReserveOp,
  context: { owner: string; leaseMs: number; now: number },
): ExecutionRecord {
  const { request } = op;
  return {
    id: op.id,
    tenant: request.tenant,
    nonce: request.nonce,
    action: request.action,
    requestDigest: request.requestDigest,
    approvalId: request.approval?.id ?? null,
    state: 'reserved',
    owner: context.owner,
    leaseExpiresAt: context.now + context.leaseMs,
    createdAt: context.now,
    completedAt: null,
    resultDigest: null,
    errorCode: null,
    responseStatus: null,
    responseBody: null,
    receipt: null,
  };
}

// Raw rows use column names; Prisma model rows use field names. Integers arrive as bigint.
function toRecord(row: Row): ExecutionRecord {
  const pick = (column: string, field: string) => (column in row ? row[column] : row[field]);
  const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  return {
    id: row.id,
    tenant: row.tenant,
    nonce: row.nonce,
    action: row.action,
    requestDigest: pick('request_digest', 'requestDigest') as string,
    approvalId: (pick('approval_id', 'approvalId') as string | null) ?? null,
    state: row.state as ExecutionState,
    owner: row.owner as string,
    leaseExpiresAt: Number(pick('lease_expires_at', 'leaseExpiresAt')),
    createdAt: Number(pick('created_at', 'createdAt')),
    completedAt: num(pick('completed_at', 'completedAt')),
    resultDigest: (pick('result_digest', 'resultDigest') as string | null) ?? null,
    errorCode: (pick('error_code', 'errorCode') as string | null) ?? null,
    responseStatus: num(pick('response_status', 'responseStatus')),
    responseBody: (pick('response_body', 'responseBody') as string | null) ?? null,
    receipt: (row.receipt as string | null | undefined) ?? null,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isRetryable(error: unknown): boolean {
  const text = describe(error);
  return /40P01|40001|deadlock detected|could not serialize|ERR_STALE_CHAIN_HEAD/i.test(text);
}

/**
 * SQLITE_BUSY from the write thread: its `BEGIN IMMEDIATE` found the lock held past the busy
 * timeout. In WAL mode (the thread refuses any other) that is the only statement that waits
 * for the lock, so nothing of the batch was written.
 */
function isLockTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function asUnavailable(error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError('ERR_STORE_UNAVAILABLE', `database operation failed: ${describe(error)}`, {
    cause: error,
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const first = error.message.split('\n').find((line) => line.trim() !== '') ?? error.name;
    return code ? `${String(code)}: ${first}` : first;
  }
  return String(error);
}
