import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.OPENEXEC_TEST_PG_URL;
export const PG_SKIP_REASON = 'OPENEXEC_TEST_PG_URL is not set: PostgreSQL tests skipped (CI always sets it)';
if (!PG_URL) console.warn(PG_SKIP_REASON);

/** A fresh database on the test server; `drop` removes it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!PG_URL) throw new Error(PG_SKIP_REASON);
  const name = `openexec_api_${randomBytes(6).toString('hex')}`;
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
