import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const PG_URL = process.env.OPENEXEC_TEST_PG_URL;
export const PG_SKIP_REASON = 'OPENEXEC_TEST_PG_URL is not set: PostgreSQL tests skipped (CI always sets it)';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export function sqliteDatabase(): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'openexec-store-'));
  return {
    url: `sqlite:///${join(dir, 'test.db')}`.replace('sqlite:////', 'sqlite:////'),
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fresh PostgreSQL database per call, dropped afterwards. */
export async function postgresDatabase(): Promise<TestDatabase> {
  if (!PG_URL) throw new Error(PG_SKIP_REASON);
  const name = `openexec_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export const backends = [
  { name: 'sqlite', create: async () => sqliteDatabase(), skip: false },
  { name: 'postgresql', create: postgresDatabase, skip: !PG_URL },
] as const;

if (!PG_URL) console.warn(PG_SKIP_REASON);
