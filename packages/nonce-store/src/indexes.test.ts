import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from './database.js';
import { migrate } from './migrate.js';
import { backends, type TestDatabase } from './test-support/databases.js';
import { parseDatabaseUrl } from './url.js';

// The store's sweeps read only the small partial indexes (migrations 0003 and 0004): an index
// dropped or changed so that one of them no longer applies would scan every execution ever
// stored, on every sweep.
const QUERIES = {
  'the lease sweep': [
    `UPDATE "executions" SET "state" = 'indeterminate' WHERE "state" = 'reserved' AND "lease_expires_at" < 5`,
    'executions_reserved_lease_idx',
  ],
  "the start-up sweep of this owner's reservations": [
    `UPDATE "executions" SET "state" = 'indeterminate' WHERE "state" = 'reserved' AND "owner" = 'me'`,
    'executions_reserved_lease_idx',
  ],
  'the retention purge': [
    `UPDATE "executions" SET "response_body" = NULL, "payload" = NULL WHERE "completed_at" < 5 ` +
      `AND ("response_body" IS NOT NULL OR "payload" IS NOT NULL)`,
    'executions_completed_idx',
  ],
  'the list of indeterminate executions': [
    `SELECT "id" FROM "executions" WHERE "state" = 'indeterminate' ORDER BY "created_at" LIMIT 100`,
    'executions_indeterminate_idx',
  ],
} as const;

for (const backend of backends) {
  describe.skipIf(backend.skip)(`indexes on ${backend.name}`, () => {
    let database: TestDatabase;
    let db: Database;
    beforeEach(async () => {
      database = await backend.create();
      db = await openDatabase(parseDatabaseUrl(database.url), {
        busyTimeoutMs: 1_000,
        transactionTimeoutMs: 5_000,
        poolSize: 1,
      });
      await migrate(db);
    });
    afterEach(async () => {
      await db.close();
      await database.drop();
    });

    /** The plan's text; PostgreSQL is told to avoid table scans, so an applicable index shows. */
    async function plan(sql: string): Promise<string> {
      if (db.dialect === 'sqlite') {
        const rows = await db.raw.$queryRawUnsafe<Array<{ detail: string }>>(`EXPLAIN QUERY PLAN ${sql}`);
        return rows.map((row) => row.detail).join('\n');
      }
      return db.transaction(async (tx) => {
        await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
        const rows = await tx.$queryRawUnsafe<Array<{ 'QUERY PLAN': string }>>(`EXPLAIN ${sql}`);
        return rows.map((row) => row['QUERY PLAN']).join('\n');
      });
    }

    for (const [what, [sql, index]] of Object.entries(QUERIES)) {
      it(`reads ${index} for ${what}`, async () => {
        const text = await plan(sql);
        expect(text).toContain(index);
        expect(text).not.toMatch(/SCAN "?executions"?\s*$|Seq Scan on executions/m);
      });
    }
  });
}
