// The service tried as a new operator would: production settings, real processes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from './auth.js';
import { mintV1, newApproverKey } from './test-support/approvals.js';
import { runsIn } from './test-support/handlers.js';
import { type ServiceProcess, spawnService } from './test-support/process.js';

const serveScript = fileURLToPath(new URL('./test-support/serve-with-test-handlers.ts', import.meta.url));
const API_KEY = 'oek_operator_test_0123456789abcdef';

describe('a new operator deploying with production settings', () => {
  let dir: string;
  let production: Record<string, string>;
  const approver = newApproverKey();
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'openexec-operator-'));
    writeFileSync(join(dir, 'approvers.jwks.json'), JSON.stringify({ keys: [approver.jwk] }));
    writeFileSync(
      join(dir, 'api-keys.json'),
      JSON.stringify({ keys: [{ id: 'agent-1', sha256: hashApiKey(API_KEY) }] }),
    );
    production = {
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      OPENEXEC_MODE: 'clawshield',
      OPENEXEC_DB_URL: `sqlite:///${join(dir, 'openexec.db')}`,
      TEST_RUNS_FILE: join(dir, 'runs.log'),
      OPENEXEC_RATE_LIMIT_PER_IP: '600',
    };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start without approver keys, with a message naming what is missing', () => {
    let failure: { status: number | null; stderr: string } | undefined;
    try {
      execFileSync(process.execPath, ['--import', 'tsx', serveScript], {
        env: { ...process.env, ...production, PORT: '0', CLAWSHIELD_TENANT_ID: 'acme' },
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 30_000,
      });
    } catch (error) {
      failure = error as { status: number | null; stderr: string };
    }
    expect(failure?.status).toBe(78);
    expect(failure?.stderr).toContain('CLAWSHIELD_PUBLIC_KEY: clawshield mode needs the approver key');
  });

  describe('with keys', () => {
    let service: ServiceProcess;
    let http: ReturnType<typeof supertest>;
    const auth = { Authorization: `Bearer ${API_KEY}` };
    const approved = (nonce: string, payload: Record<string, unknown> = {}) => ({
      action: 'count',
      payload,
      nonce,
      approval_artifact: mintV1(approver, { tenant: 'acme', action: 'count', payload, nonce }),
    });

    beforeAll(async () => {
      service = await spawnService({
        ...production,
        CLAWSHIELD_TENANT_ID: 'acme',
        OPENEXEC_APPROVAL_KEYS_FILE: join(dir, 'approvers.jwks.json'),
        OPENEXEC_API_KEYS_FILE: join(dir, 'api-keys.json'),
      });
      http = supertest(service.url);
    });
    afterAll(() => service.child.kill('SIGKILL'));

    it('serves: ready, and an approved execution by an authenticated caller', async () => {
      expect((await http.get('/ready')).body).toEqual({ ready: true });
      const response = await http.post('/execute').set(auth).send(approved('op-1'));
      expect(response.status).toBe(200);
      expect(response.body.signed_receipt.outcome).toBe('succeeded');
    });

    it('answers unauthenticated /execute with 401, before any approval is looked at', async () => {
      const response = await http.post('/execute').send(approved('op-2'));
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('unauthenticated');
    });

    it('answers a flood with 429 while memory and the database stay bounded', async () => {
      const rssBefore = Number(
        (await http.get('/metrics')).text.match(/openexec_process_resident_memory_bytes (\d+)/)?.[1],
      );
      const statuses = new Map<number, number>();
      const flood = Array.from({ length: 1_500 }, (_, i) =>
        http
          .post('/execute')
          .send({ action: 'count', payload: {}, nonce: `flood-${i}`, approval_artifact: 'garbage' })
          .then((r) => {
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          }),
      );
      await Promise.all(flood);
      expect(statuses.get(429)).toBeGreaterThan(0);
      expect([...statuses.keys()].every((status) => status === 401 || status === 429)).toBe(true);
      const rssAfter = Number(
        (await http.get('/metrics')).text.match(/openexec_process_resident_memory_bytes (\d+)/)?.[1],
      );
      expect(rssAfter - rssBefore).toBeLessThan(64 * 1024 * 1024);
      // Nothing of the flood reached the database: no reservation, no receipt.
      const db = new Database(join(dir, 'openexec.db'), { readonly: true });
      try {
        expect(
          (
            db.prepare("SELECT COUNT(*) AS n FROM executions WHERE nonce LIKE 'flood-%'").get() as {
              n: number;
            }
          ).n,
        ).toBe(0);
        expect(
          (db.prepare('SELECT COUNT(*) AS n FROM receipts').get() as { n: number }).n,
        ).toBeLessThanOrEqual(2);
      } finally {
        db.close();
      }
    });

    it('on SIGTERM under load lets in-flight executions finish, half-executes nothing, and exits 0', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // let the rate-limit bucket refill a little
      const inFlight = Array.from({ length: 8 }, (_, i) =>
        http
          .post('/execute')
          .set(auth)
          .send(approved(`term-${i}`, { delayMs: 400 }))
          .then(
            (r) => r.status,
            () => 0,
          ),
      );
      await new Promise((resolve) => setTimeout(resolve, 150));
      service.child.kill('SIGTERM');
      const statuses = await Promise.all(inFlight);
      expect(await service.exited).toBe(0);
      const ran = runsIn(join(dir, 'runs.log')).filter((nonce) => nonce.startsWith('term-'));
      // Every execution that started was allowed to finish and was recorded.
      expect(statuses.filter((status) => status === 200).length).toBe(ran.length);
      const db = new Database(join(dir, 'openexec.db'), { readonly: true });
      try {
        expect(
          (
            db
              .prepare("SELECT COUNT(*) AS n FROM executions WHERE state IN ('reserved', 'indeterminate')")
              .get() as { n: number }
          ).n,
        ).toBe(0);
      } finally {
        db.close();
      }
    });
  });
});
