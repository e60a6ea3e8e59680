import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteThread } from './sqlite-thread.js';
import { openExecutionStore } from './store.js';
import { sqliteDatabase } from './test-support/databases.js';
import { testSealer } from './test-support/sealer.js';
import { parseDatabaseUrl } from './url.js';

const BUSY_TIMEOUT_MS = 1_000;

/** Another connection to the file (as another process would have) holding its write lock. */
async function holdWriteLock(url: string) {
  const location = parseDatabaseUrl(url);
  if (location.dialect !== 'sqlite') throw new Error('a SQLite URL is needed');
  const adapter = await new PrismaBetterSqlite3({ url: `file:${location.file}` }).connect();
  const connection = (adapter as unknown as { client: { exec(sql: string): void } }).client;
  connection.exec('BEGIN EXCLUSIVE');
  return {
    release: async () => {
      connection.exec('ROLLBACK');
      await adapter.dispose();
    },
  };
}

describe('a SQLite write lock held past the busy timeout', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  /** A store on a fresh SQLite file whose write thread waits `busyTimeoutMs` for a lock. */
  async function openStore(busyTimeoutMs: number) {
    const database = sqliteDatabase();
    cleanups.push(() => database.drop());
    const store = await openExecutionStore({
      url: database.url,
      owner: 'o1',
      leaseMs: 60_000,
      busyTimeoutMs,
      receipts: testSealer('o1'),
    });
    cleanups.push(() => store.close());
    return { database, store };
  }

  it('answers a reservation committed by an attempt whose answer was lost as reserved, though its retry cannot write', async () => {
    const { database, store } = await openStore(200);
    // The write thread commits the batch and dies before answering (simulated: the answer is
    // replaced by the thread's exit), and another process takes the lock before the retry.
    const write = SqliteThread.prototype.write;
    vi.spyOn(SqliteThread.prototype, 'write').mockImplementationOnce(async function (
      this: SqliteThread,
      ...args
    ) {
      await write.apply(this, args);
      const lock = await holdWriteLock(database.url);
      cleanups.push(() => lock.release());
      throw new Error('the SQLite write thread exited (code 1)');
    });

    const reserved = await store.reserve({
      tenant: 't',
      nonce: 'n-lost',
      action: 'echo',
      requestDigest: 'd',
    });
    expect(reserved.kind).toBe('reserved');
    // The row stored is this request's own.
    const execution = (reserved as { execution: { id: string } }).execution;
    expect((await store.lookup('t', 'n-lost'))?.id).toBe(execution.id);
  });

  it('refuses the whole batch at once: its operations are not retried one by one into the lock', async () => {
    const { database, store } = await openStore(BUSY_TIMEOUT_MS);
    const request = (nonce: string) => ({ tenant: 't', nonce, action: 'echo', requestDigest: 'd' });
    const nonces = ['n-1', 'n-2', 'n-3', 'n-4', 'n-5'];

    const lock = await holdWriteLock(database.url);
    // Submitted in one tick: one batch. It fails after one busy timeout; the lock goes away
    // 1.5 timeouts later. Retried op by op, the first op would wait into that release and
    // every op would then be written, each after its own wait.
    const attempts = Promise.allSettled(nonces.map((nonce) => store.reserve(request(nonce))));
    const released = new Promise<void>((resolve) => {
      setTimeout(() => resolve(lock.release()), BUSY_TIMEOUT_MS * 2.5);
    });
    const settled = await attempts;
    await released;

    for (const outcome of settled) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    }
    // Nothing of the batch was stored: the same nonces reserve now, as first attempts.
    for (const nonce of nonces) {
      expect((await store.reserve(request(nonce))).kind).toBe('reserved');
    }
  });
});
