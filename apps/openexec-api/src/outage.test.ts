// Database unavailable: 503, nothing runs, and the service recovers by itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { countingHandler, runsIn } from './test-support/handlers.js';
import { createPostgresDatabase, PG_URL } from './test-support/postgres.js';
import { startTestServer, type TestServer } from './test-support/server.js';
import { TcpProxy } from './test-support/tcp-proxy.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('database outages', () => {
  it.skipIf(!PG_URL)(
    'answers 503 and runs nothing while PostgreSQL is unreachable, then recovers',
    async () => {
      const db = await createPostgresDatabase();
      cleanups.push(db.drop);
      const target = new URL(db.url);
      const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
      await proxy.up();
      cleanups.push(() => proxy.down());
      const viaProxy = new URL(db.url);
      viaProxy.host = `127.0.0.1:${proxy.port}`;
      const runs = join(mkdtempSync(join(tmpdir(), 'openexec-runs-')), 'runs.log');
      const server: TestServer = await startTestServer(
        { OPENEXEC_DB_URL: viaProxy.toString(), OPENEXEC_DB_BUSY_TIMEOUT_MS: '1000' },
        [countingHandler(runs)],
      );
      cleanups.push(() => server.close());

      expect(
        (await server.http.post('/execute').send({ action: 'count', payload: {}, nonce: 'before' })).status,
      ).toBe(200);
      await proxy.down();
      const during = await server.http
        .post('/execute')
        .send({ action: 'count', payload: {}, nonce: 'during' });
      expect(during.status).toBe(503);
      expect(during.body.code).toBe('store_unavailable');
      const ready = await server.http.get('/ready');
      expect(ready.status).toBe(503);
      // The driver's error text is logged, not shown to anyone who asks.
      expect(ready.body.detail).toBe('database unreachable');
      // Every route that needs the database says so, as /execute does (not a 500).
      for (const path of ['/receipts/some-id', '/receipts', '/.well-known/openexec-keys.json']) {
        const answer = await server.http.get(path);
        expect([path, answer.status, answer.body.code]).toEqual([path, 503, 'store_unavailable']);
        expect(answer.headers['retry-after']).toBe('1');
      }
      expect(runsIn(runs)).toEqual(['before']);

      await proxy.up();
      await waitFor(async () => (await server.http.get('/ready')).status === 200);
      const after = await server.http
        .post('/execute')
        .send({ action: 'count', payload: {}, nonce: 'during' });
      expect(after.status).toBe(200);
      expect(runsIn(runs)).toEqual(['before', 'during']);
    },
  );

  it('answers 503 and runs nothing while another process holds the SQLite write lock, then recovers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openexec-locked-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'locked.db');
    const runs = join(dir, 'runs.log');
    const server = await startTestServer(
      { OPENEXEC_DB_URL: `sqlite:///${file}`, OPENEXEC_DB_BUSY_TIMEOUT_MS: '300' },
      [countingHandler(runs)],
    );
    cleanups.push(() => server.close());
    expect(
      (await server.http.post('/execute').send({ action: 'count', payload: {}, nonce: 'before' })).status,
    ).toBe(200);

    const intruder = new Database(file);
    intruder.exec('BEGIN EXCLUSIVE');
    const during = await server.http.post('/execute').send({ action: 'count', payload: {}, nonce: 'during' });
    expect(during.status).toBe(503);
    expect(during.body.code).toBe('store_unavailable');
    expect(runsIn(runs)).toEqual(['before']);

    intruder.exec('ROLLBACK');
    intruder.close();
    const after = await server.http.post('/execute').send({ action: 'count', payload: {}, nonce: 'during' });
    expect(after.status).toBe(200);
    expect(runsIn(runs)).toEqual(['before', 'during']);
  });
});
