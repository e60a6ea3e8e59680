// Exactly-once under concurrency and faults, with real processes on real databases.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import supertest from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { runsIn, untilRunning } from './test-support/handlers.js';
import { createPostgresDatabase, PG_URL } from './test-support/postgres.js';
import { type ServiceProcess, spawnService } from './test-support/process.js';

const started: ServiceProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const service of started.splice(0)) service.child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const adminScript = fileURLToPath(new URL('./admin.ts', import.meta.url));
function admin(env: Record<string, string>, args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', adminScript, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
}

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'openexec-once-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(env: Record<string, string>): Promise<ServiceProcess> {
  const service = await spawnService(env);
  started.push(service);
  return service;
}

// The storm measures exactly-once, not the abuse limits (tested in limits.test.ts).
const STORM = { OPENEXEC_MAX_CONCURRENT_PER_ACTION: '1000', OPENEXEC_RATE_LIMIT_PER_IP: '0' };

/** 200 concurrent requests with one nonce, spread over the given processes. */
async function storm(services: ServiceProcess[], runs: string, nonce: string) {
  const responses = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      supertest((services[i % services.length] as ServiceProcess).url)
        .post('/execute')
        .send({ action: 'count', payload: { delayMs: 100 }, nonce }),
    ),
  );
  const ok = responses.filter((r) => r.status === 200);
  const busy = responses.filter((r) => r.status === 409 && r.body.code === 'execution_in_progress');
  expect(ok.length + busy.length).toBe(200);
  expect(ok.length).toBeGreaterThanOrEqual(1);
  expect(new Set(ok.map((r) => r.body.id)).size).toBe(1);
  expect(runsIn(runs).filter((n) => n === nonce)).toHaveLength(1);
}

describe('one nonce raced across processes', () => {
  it('runs once across 2 API processes on one SQLite file', async () => {
    const dir = workDir();
    const env = {
      OPENEXEC_DB_URL: `sqlite:///${join(dir, 'shared.db')}`,
      TEST_RUNS_FILE: join(dir, 'runs.log'),
      ...STORM,
    };
    const services = [
      await start({ ...env, OPENEXEC_INSTANCE_ID: 'a' }),
      await start({ ...env, OPENEXEC_INSTANCE_ID: 'b' }),
    ];
    await storm(services, env.TEST_RUNS_FILE, 'sqlite-storm');
  });

  it.skipIf(!PG_URL)('runs once across 3 API processes on one PostgreSQL database', async () => {
    const dir = workDir();
    const db = await createPostgresDatabase();
    cleanups.push(db.drop);
    const env = { OPENEXEC_DB_URL: db.url, TEST_RUNS_FILE: join(dir, 'runs.log'), ...STORM };
    const services = [];
    for (const id of ['r1', 'r2', 'r3']) services.push(await start({ ...env, OPENEXEC_INSTANCE_ID: id }));
    await storm(services, env.TEST_RUNS_FILE, 'pg-storm');
  });
});

describe('kill -9 while a handler runs', () => {
  it('never re-runs the interrupted execution, reports it indeterminate, and keeps every acknowledged one', async () => {
    const dir = workDir();
    const runs = join(dir, 'runs.log');
    const env = {
      OPENEXEC_DB_URL: `sqlite:///${join(dir, 'crash.db')}`,
      TEST_RUNS_FILE: runs,
      OPENEXEC_INSTANCE_ID: 'node-1',
    };
    const first = await start(env);
    const http = supertest(first.url);
    const acknowledged = [];
    for (let i = 0; i < 20; i++) {
      const response = await http.post('/execute').send({ action: 'count', payload: {}, nonce: `ack-${i}` });
      expect(response.status).toBe(200);
      acknowledged.push(response.body);
    }
    const slow = http
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 30_000 }, nonce: 'in-flight' })
      .then(
        (r) => r,
        (error: unknown) => error,
      );
    await untilRunning(runs, 'in-flight');
    first.child.kill('SIGKILL');
    await first.exited;
    await slow;

    const second = await start(env);
    const again = supertest(second.url);
    const replay = await again
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 30_000 }, nonce: 'in-flight' });
    expect(replay.status).toBe(409);
    expect(replay.body.code).toBe('execution_indeterminate');
    expect(runsIn(runs).filter((n) => n === 'in-flight')).toHaveLength(1);
    for (const [i, body] of acknowledged.entries()) {
      const stored = await again.post('/execute').send({ action: 'count', payload: {}, nonce: `ack-${i}` });
      expect(stored.status).toBe(200);
      expect(stored.body).toMatchObject({ id: body.id, receipt: body.receipt, replayed: true });
    }
    expect(runsIn(runs)).toHaveLength(21);

    // The operator finds it, resolves it, and replays then answer the resolution.
    const listed = admin(env, ['indeterminate']);
    expect(listed).toContain('"nonce":"in-flight"');
    expect(
      admin(env, [
        'resolve',
        '--tenant',
        'default',
        '--nonce',
        'in-flight',
        '--as',
        'failed',
        '--operator',
        'oncall@example.com',
        '--note',
        'charge not found upstream',
      ]),
    ).toContain('"resolved":true');
    const resolved = await again
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 30_000 }, nonce: 'in-flight' });
    expect(resolved.status).toBe(502);
    expect(resolved.body).toMatchObject({
      code: 'resolved_failed',
      resolved_by: 'oncall@example.com',
      replayed: true,
    });
    expect(runsIn(runs).filter((n) => n === 'in-flight')).toHaveLength(1);

    // Retention: the stored answers go, the nonces stay taken.
    expect(admin(env, ['purge', '--older-than-hours', '0'])).toContain('"responsesCleared":21');
    const purged = await again.post('/execute').send({ action: 'count', payload: {}, nonce: 'ack-0' });
    expect(purged.status).toBe(410);
    expect(purged.body).toMatchObject({ code: 'execution_purged', id: acknowledged[0].id });
    expect(runsIn(runs)).toHaveLength(21);
  });

  it('reports a reservation of another, dead process indeterminate once its lease has run out', async () => {
    const dir = workDir();
    const runs = join(dir, 'runs.log');
    const env = {
      OPENEXEC_DB_URL: `sqlite:///${join(dir, 'lease.db')}`,
      TEST_RUNS_FILE: runs,
      OPENEXEC_LEASE_MS: '1000',
    };
    const victim = await start({ ...env, OPENEXEC_INSTANCE_ID: 'victim' });
    const pending = supertest(victim.url)
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 30_000 }, nonce: 'orphan' })
      .then(
        (r) => r,
        (e: unknown) => e,
      );
    await untilRunning(runs, 'orphan');
    victim.child.kill('SIGKILL');
    await pending;
    const survivor = await start({ ...env, OPENEXEC_INSTANCE_ID: 'survivor' });
    const early = await supertest(survivor.url)
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 30_000 }, nonce: 'orphan' });
    expect(early.body.code).toBe('execution_in_progress');
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    const late = await supertest(survivor.url)
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 30_000 }, nonce: 'orphan' });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('execution_indeterminate');
    expect(runsIn(runs).filter((n) => n === 'orphan')).toHaveLength(1);
  });
});
