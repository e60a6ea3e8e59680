import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { BatchOp, SealedEntry } from './batch.js';
import type { SqliteBatchContext, SqliteBatchResult } from './sqlite-batch.js';
import type { ReceiptSealerModule } from './types.js';

export interface SqliteThreadData {
  file: string;
  busyTimeoutMs: number;
  selectRecord: string;
  /** Receipts are sealed on the thread, by a sealer it builds from this. */
  sealer: ReceiptSealerModule | null;
}

/** What the store decides about a batch; the thread adds the receipts and the head they follow. */
export type SqliteThreadContext = Omit<SqliteBatchContext, 'receipts' | 'sealedFrom'>;

export interface SqliteThreadRequest {
  id: number;
  ops: BatchOp[];
  context: SqliteThreadContext;
}

export interface SqliteThreadResult {
  results: SqliteBatchResult[];
  /** The batch's receipts, committed with it, in chain order. */
  sealed: SealedEntry[];
}

export type SqliteThreadReply =
  | ({ id: number; error?: undefined } & SqliteThreadResult)
  | { id: number; error: { message: string; code?: string } };

/** Under vitest this module runs from src/ (TypeScript): the thread then runs the build of the same source. */
function workerUrl(): URL {
  const beside = new URL('./sqlite-thread-worker.js', import.meta.url);
  return existsSync(beside) ? beside : new URL('../dist/sqlite-thread-worker.js', import.meta.url);
}

/**
 * The store's SQLite batches, sealed and written by a thread of their own: receipt signing,
 * statements, WAL frames and the fsync of each commit (together over a third of a request's
 * CPU) leave the thread that serves HTTP. Batches are applied strictly in the order sent, so
 * the store may send the next while one is being written. If the thread dies, the batches it
 * held fail (nothing of them is acknowledged) and the next batch starts a new thread, which
 * continues the chain from what is stored. The thread keeps the process alive only while a
 * batch is in flight.
 */
export class SqliteThread {
  readonly #data: SqliteThreadData;
  readonly #pending = new Map<
    number,
    { resolve(result: SqliteThreadResult): void; reject(error: Error): void }
  >();
  #worker: Worker | null = null;
  #nextId = 0;

  constructor(data: SqliteThreadData) {
    this.#data = data;
  }

  write(ops: BatchOp[], context: SqliteThreadContext): Promise<SqliteThreadResult> {
    this.#worker ??= this.#start();
    const worker = this.#worker;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, ops, context } satisfies SqliteThreadRequest);
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    if (worker) await worker.terminate();
  }

  #start(): Worker {
    const worker = new Worker(workerUrl(), { workerData: this.#data });
    worker.unref();
    const fail = (error: Error) => {
      if (this.#worker === worker) this.#worker = null;
      for (const entry of this.#pending.values()) entry.reject(error);
      this.#pending.clear();
    };
    worker.on('message', (reply: SqliteThreadReply) => {
      const entry = this.#pending.get(reply.id);
      if (!entry) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (reply.error)
        entry.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else entry.resolve({ results: reply.results, sealed: reply.sealed });
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SQLite write thread exited (code ${code})`)));
    return worker;
  }
}
