import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchOp } from './batch.js';
import { type Database, openDatabase } from './database.js';
import { migrate } from './migrate.js';
import { SqliteThread } from './sqlite-thread.js';
import { sqliteDatabase, type TestDatabase } from './test-support/databases.js';
import { testSealer } from './test-support/sealer.js';
import { parseDatabaseUrl } from './url.js';

const SELECT = 'SELECT e.*, NULL AS "receipt" FROM "executions" e';
const context = () => ({ owner: 'owner-1', leaseMs: 60_000, storePayloads: false, now: Date.now() });
// The store gives every request its own id; a retry of a request keeps it.
const reserve = (nonce: string, id = `id-${nonce}`): BatchOp => ({
  kind: 'reserve',
  id,
  request: { tenant: 't', nonce, action: 'echo', requestDigest: 'd' },
});
const record = (n: number): BatchOp => ({
  kind: 'record',
  draft: { executionId: null, outcome: 'replay_denied', fields: { n } },
});

describe('SqliteThread', () => {
  let database: TestDatabase;
  let file: string;
  let db: Database;
  const threads: SqliteThread[] = [];
  const thread = (sealer = false) => {
    const started = new SqliteThread({
      file,
      busyTimeoutMs: 200,
      selectRecord: SELECT,
      sealer: sealer ? testSealer('chain-1') : null,
    });
    threads.push(started);
    return started;
  };
  beforeEach(async () => {
    database = sqliteDatabase();
    const location = parseDatabaseUrl(database.url);
    if (location.dialect !== 'sqlite') throw new Error('not a SQLite URL');
    file = location.file;
    db = await openDatabase(location, { busyTimeoutMs: 1_000, transactionTimeoutMs: 5_000, poolSize: 1 });
    await migrate(db);
  });
  afterEach(async () => {
    await Promise.all(threads.splice(0).map((started) => started.close()));
    await db.close();
    await database.drop();
  });

  it('writes each batch in one transaction on its own thread, visible to the Prisma client', async () => {
    const { results } = await thread().write(
      [reserve('n-1'), reserve('n-1', 'id-other'), reserve('n-2')],
      context(),
    );
    expect(results).toMatchObject([
      { kind: 'reserved' },
      { kind: 'existing', row: { id: 'id-n-1' } },
      { kind: 'reserved' },
    ]);
    expect(await db.models.execution.count()).toBe(2);
  });

  it('seals receipts on the thread, continuing the stored chain across batches and restarts', async () => {
    const first = thread(true);
    const a = await first.write([record(1), reserve('n-1'), record(2)], context());
    expect(a.sealed.map((receipt) => receipt.seq)).toEqual([1, 2]);
    const b = await first.write([record(3)], context());
    expect(JSON.parse(b.sealed[0]?.body ?? '{}')).toMatchObject({ seq: 3, prev: a.sealed[1]?.hash });
    await first.close();
    const restarted = await thread(true).write([record(4)], context());
    expect(JSON.parse(restarted.sealed[0]?.body ?? '{}')).toMatchObject({ seq: 4, prev: b.sealed[0]?.hash });
    expect(await db.models.receipt.count()).toBe(4);
  });

  it('writes nothing of a batch sealed after a head that is no longer the stored one, then continues from it', async () => {
    // Two writers of one chain (two processes with the same instance id): each thread loaded
    // the empty chain; the second to write finds the head moved.
    const one = thread(true);
    const two = thread(true);
    await two.write([reserve('warm-up')], context());
    await one.write([record(1)], context());
    await expect(two.write([reserve('n-lost'), record(2)], context())).rejects.toMatchObject({
      code: 'ERR_STALE_CHAIN_HEAD',
    });
    expect(await db.models.execution.findUnique({ where: { id: 'id-n-lost' } })).toBeNull();
    const retried = await two.write([reserve('n-lost'), record(2)], context());
    expect(retried.sealed.map((receipt) => receipt.seq)).toEqual([2]);
  });

  it('fails a batch while another connection holds the write lock, and writes once it is released', async () => {
    const writer = thread();
    await writer.write([reserve('warm-up')], context());
    await db.transaction(async (tx) => {
      await tx.$executeRawUnsafe(`UPDATE "executions" SET "owner" = 'holder' WHERE "nonce" = 'warm-up'`);
      await expect(writer.write([reserve('n-locked')], context())).rejects.toMatchObject({
        code: 'SQLITE_BUSY',
      });
    });
    await expect(writer.write([reserve('n-locked')], context())).resolves.toMatchObject({
      results: [{ kind: 'reserved' }],
    });
  });

  it('checkpoints the WAL into the database file once it has answered, long before SQLite would', async () => {
    const writer = thread();
    const sizeBefore = statSync(file).size;
    // 160 operations: past the thread's mark (128), a few hundred WAL frames short of SQLite's
    // automatic checkpoint (1,000 by default). Until a checkpoint, the database file is untouched.
    for (let batch = 0; batch < 20; batch++) {
      await writer.write(
        Array.from({ length: 8 }, (_, i) => reserve(`n-${batch}-${i}`)),
        context(),
      );
    }
    const deadline = Date.now() + 10_000;
    while (statSync(file).size === sizeBefore) {
      if (Date.now() > deadline) throw new Error('the database file was not written within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await db.models.execution.count()).toBe(160);
  });

  it('fails batches while its database cannot be opened, and writes once it can', async () => {
    const later = join(mkdtempSync(join(tmpdir(), 'openexec-later-')), 'not-yet', 'db.sqlite');
    const writer = new SqliteThread({ file: later, busyTimeoutMs: 200, selectRecord: SELECT, sealer: null });
    threads.push(writer);
    await expect(writer.write([reserve('n-1')], context())).rejects.toThrow();
    mkdirSync(dirname(later));
    const created = await openDatabase(
      { dialect: 'sqlite', file: later },
      { busyTimeoutMs: 1_000, transactionTimeoutMs: 5_000, poolSize: 1 },
    );
    await migrate(created);
    await created.close();
    await expect(writer.write([reserve('n-1')], context())).resolves.toMatchObject({
      results: [{ kind: 'reserved' }],
    });
    rmSync(dirname(dirname(later)), { recursive: true, force: true });
  });

  it('fails the batches a stopped thread held, having written each of them whole or not at all', async () => {
    const writer = thread();
    await writer.write([reserve('warm-up')], context());
    const big = Array.from({ length: 5_000 }, (_, i) => reserve(`bulk-${i}`));
    const held = writer.write(big, context());
    await writer.close();
    await expect(held).rejects.toThrow(/exited/);
    expect([1, 1 + big.length]).toContain(await db.models.execution.count());
    // The store retries what failed: each reservation is its own, whether or not the stopped
    // thread had committed it before its answer was lost.
    const retried = await thread().write(big, context());
    expect(new Set(retried.results.map((result) => result.kind))).toEqual(new Set(['reserved']));
    expect(await db.models.execution.count()).toBe(1 + big.length);
  });

  it('starts a new thread for the next batch after close', async () => {
    const writer = thread();
    await writer.write([reserve('n-1')], context());
    await writer.close();
    await expect(writer.write([reserve('n-1', 'id-other')], context())).resolves.toMatchObject({
      results: [{ kind: 'existing' }],
    });
  });
});
