import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from './database.js';
import { migrate } from './migrate.js';
import { SqliteBatchWriter } from './sqlite-batch.js';
import { sqliteDatabase, type TestDatabase } from './test-support/databases.js';
import { parseDatabaseUrl } from './url.js';

const SELECT = 'SELECT e.*, NULL AS "receipt" FROM "executions" e';
const context = {
  owner: 'owner-1',
  leaseMs: 60_000,
  storePayloads: false,
  now: 1_800_000_000_000,
  receipts: [],
};
const reserve = (nonce: string) => ({
  kind: 'reserve' as const,
  id: `id-${nonce}`,
  request: { tenant: 't', nonce, action: 'echo', requestDigest: 'd' },
});

describe('SqliteBatchWriter', () => {
  let file: TestDatabase;
  let db: Database;
  beforeEach(async () => {
    file = sqliteDatabase();
    db = await openDatabase(parseDatabaseUrl(file.url), {
      busyTimeoutMs: 1_000,
      transactionTimeoutMs: 5_000,
      poolSize: 1,
    });
    await migrate(db);
  });
  afterEach(async () => {
    await db.close();
    await file.drop();
  });

  it('writes on the connection the Prisma client reads from', async () => {
    const writer = new SqliteBatchWriter(db.sqlite!, SELECT);
    expect(writer.write([reserve('n-1')], context)).toMatchObject([{ kind: 'reserved' }]);
    expect(await db.models.execution.count()).toBe(1);
  });

  it('refuses to write inside another open transaction instead of nesting in it', async () => {
    const connection = db.sqlite!;
    const writer = new SqliteBatchWriter(connection, SELECT);
    connection.prepare('BEGIN').run();
    expect(writer.busy).toBe(true);
    expect(() => writer.write([reserve('n-1')], context)).toThrow(/inside another transaction/);
    connection.prepare('ROLLBACK').run();
    expect(writer.busy).toBe(false);
    expect(writer.write([reserve('n-1'), reserve('n-1')], context)).toMatchObject([
      { kind: 'reserved' },
      { kind: 'existing', row: { id: 'id-n-1' } },
    ]);
  });
});
