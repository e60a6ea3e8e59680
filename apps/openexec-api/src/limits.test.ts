import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashApiKey } from './auth.js';
import { RateLimiter } from './limits.js';
import { mintV1, newApproverKey } from './test-support/approvals.js';
import { countingHandler, runsIn, stubbornHandler } from './test-support/handlers.js';
import { startTestServer, type TestServer } from './test-support/server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});
async function start(env: Record<string, string>, runs?: string) {
  const server = await startTestServer(env, runs ? [countingHandler(runs)] : []);
  servers.push(server);
  return server;
}

function keysFile(keys: unknown[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'openexec-keys-')), 'api-keys.json');
  writeFileSync(file, JSON.stringify({ keys }));
  return file;
}

const AGENT_KEY = 'oek_agent_0123456789abcdef0123456789';
const OPS_KEY = 'oek_ops_fedcba9876543210fedcba98765';

describe('caller authentication', () => {
  it('requires a valid API key on /execute (401) and keeps health, ready, version and metrics open', async () => {
    const file = keysFile([
      { id: 'agent', sha256: hashApiKey(AGENT_KEY), actions: ['echo'] },
      { id: 'ops', sha256: hashApiKey(OPS_KEY), tenant: 'ops-tenant' },
    ]);
    const server = await start({ OPENEXEC_API_KEYS_FILE: file });
    const body = { action: 'echo', payload: {}, nonce: 'a-1' };
    const missing = await server.http.post('/execute').send(body);
    expect(missing.status).toBe(401);
    expect(missing.body.code).toBe('unauthenticated');
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(
      (await server.http.post('/execute').set('Authorization', `Bearer ${AGENT_KEY}x`).send(body)).status,
    ).toBe(401);
    expect((await server.http.post('/execute').set('Authorization', AGENT_KEY).send(body)).status).toBe(401);
    expect((await server.http.get('/receipts')).status).toBe(401);
    for (const path of ['/health', '/ready', '/version', '/metrics', '/.well-known/openexec-keys.json']) {
      expect((await server.http.get(path)).status).toBe(200);
    }
    const ok = await server.http.post('/execute').set('Authorization', `Bearer ${AGENT_KEY}`).send(body);
    expect(ok.status).toBe(200);
    expect(await server.store.lookup('default', 'a-1')).toMatchObject({ state: 'succeeded' });
  });

  it('limits a key to its actions (403) and its tenant namespace', async () => {
    const file = keysFile([
      { id: 'agent', sha256: hashApiKey(AGENT_KEY), actions: ['echo'] },
      { id: 'ops', sha256: hashApiKey(OPS_KEY), tenant: 'ops-tenant' },
    ]);
    const server = await start({ OPENEXEC_API_KEYS_FILE: file });
    const denied = await server.http
      .post('/execute')
      .set('Authorization', `Bearer ${AGENT_KEY}`)
      .send({ action: 'add', payload: { a: 1, b: 1 }, nonce: 'x' });
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('action_not_allowed_for_key');
    // The same nonce under another tenant is another execution.
    await server.http
      .post('/execute')
      .set('Authorization', `Bearer ${AGENT_KEY}`)
      .send({ action: 'echo', payload: {}, nonce: 'shared' });
    const other = await server.http
      .post('/execute')
      .set('Authorization', `Bearer ${OPS_KEY}`)
      .send({ action: 'echo', payload: { o: 1 }, nonce: 'shared' });
    expect(other.status).toBe(200);
    expect(other.body.replayed).toBe(false);
    expect(await server.store.lookup('ops-tenant', 'shared')).toMatchObject({ state: 'succeeded' });

    // Receipts: a key limited to a tenant reads its own tenant's only, and cannot export the
    // chain (it holds every tenant's receipts); a key for the service's tenant reads both.
    const mine = await server.http
      .get(`/receipts/${other.body.id}`)
      .set('Authorization', `Bearer ${OPS_KEY}`);
    expect([mine.status, mine.body.tenant]).toEqual([200, 'ops-tenant']);
    const defaultTenant = (await server.store.lookup('default', 'shared'))?.id;
    const theirs = await server.http
      .get(`/receipts/${defaultTenant}`)
      .set('Authorization', `Bearer ${OPS_KEY}`);
    expect([theirs.status, theirs.body.code]).toEqual([404, 'not_found']);
    const exported = await server.http.get('/receipts').set('Authorization', `Bearer ${OPS_KEY}`);
    expect([exported.status, exported.body.code]).toEqual([403, 'tenant_key_not_allowed']);
    expect(
      (await server.http.get(`/receipts/${other.body.id}`).set('Authorization', `Bearer ${AGENT_KEY}`))
        .status,
    ).toBe(200);
    expect((await server.http.get('/receipts').set('Authorization', `Bearer ${AGENT_KEY}`)).status).toBe(200);
  });

  it("runs a tenant key's approvals addressed to its tenant, not to the service's", async () => {
    const approver = newApproverKey();
    const server = await start({
      OPENEXEC_MODE: 'clawshield',
      CLAWSHIELD_PUBLIC_KEY: approver.publicPem,
      CLAWSHIELD_TENANT_ID: 'service-tenant',
      OPENEXEC_API_KEYS_FILE: keysFile([{ id: 'ops', sha256: hashApiKey(OPS_KEY), tenant: 'ops-tenant' }]),
    });
    const request = (tenant: string, nonce: string) => ({
      action: 'echo',
      payload: {},
      nonce,
      approval_artifact: mintV1(approver, { tenant, action: 'echo', payload: {}, nonce }),
    });
    const send = (body: object) =>
      server.http.post('/execute').set('Authorization', `Bearer ${OPS_KEY}`).send(body);
    expect((await send(request('ops-tenant', 'own'))).status).toBe(200);
    const other = await send(request('service-tenant', 'service'));
    expect([other.status, other.body.code]).toEqual([403, 'approval_audience_mismatch']);
  });

  it('refuses a key file with plaintext keys or duplicate ids, naming the variable', async () => {
    await expect(
      start({ OPENEXEC_API_KEYS_FILE: keysFile([{ id: 'a', sha256: AGENT_KEY }]) }),
    ).rejects.toThrow(/^OPENEXEC_API_KEYS_FILE: keys\.0\.sha256: must be the lowercase hex SHA-256/);
    await expect(
      start({
        OPENEXEC_API_KEYS_FILE: keysFile([
          { id: 'a', sha256: hashApiKey('x') },
          { id: 'a', sha256: hashApiKey('y') },
        ]),
      }),
    ).rejects.toThrow(/duplicate key id a/);
  });

  it('puts /metrics behind its own token when configured', async () => {
    const server = await start({ OPENEXEC_METRICS_TOKEN_SHA256: hashApiKey('metrics-token-123') });
    expect((await server.http.get('/metrics')).status).toBe(401);
    expect((await server.http.get('/metrics').set('Authorization', 'Bearer metrics-token-123')).status).toBe(
      200,
    );
  });
});

describe('abuse limits', () => {
  it('answers a flood from one address with 429 and Retry-After, running nothing for refused requests', async () => {
    const runs = join(mkdtempSync(join(tmpdir(), 'openexec-runs-')), 'runs.log');
    // 12 per minute: a burst of 2, then one more every 5 s.
    const server = await start({ OPENEXEC_RATE_LIMIT_PER_IP: '12' }, runs);
    const started = Date.now();
    const responses = [];
    for (let i = 0; i < 30; i++)
      responses.push(
        await server.http.post('/execute').send({ action: 'count', payload: {}, nonce: `f-${i}` }),
      );
    const refills = Math.floor((Date.now() - started) / 5_000);
    const admitted = responses.filter((r) => r.status === 200).length;
    const limited = responses.filter((r) => r.status === 429);
    expect(admitted).toBeGreaterThanOrEqual(2);
    expect(admitted).toBeLessThanOrEqual(2 + refills);
    expect(limited).toHaveLength(30 - admitted);
    expect(limited[0]?.body.code).toBe('rate_limited');
    expect(Number(limited[0]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(runsIn(runs)).toHaveLength(admitted);
    // Refused requests left nothing behind: no reservation, no receipt.
    expect(await server.store.lookup('default', 'f-29')).toBeNull();
    expect(server.store.chainHead()?.seq).toBe(admitted);
  });

  it('caps concurrent executions of one action before reserving anything', async () => {
    const runs = join(mkdtempSync(join(tmpdir(), 'openexec-runs-')), 'runs.log');
    const server = await start(
      { OPENEXEC_MAX_CONCURRENT_PER_ACTION: '2', OPENEXEC_RATE_LIMIT_PER_IP: '0' },
      runs,
    );
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        // Runs of 3 s: all six requests arrive while the first two still run, even on a loaded machine.
        server.http.post('/execute').send({ action: 'count', payload: { delayMs: 3_000 }, nonce: `c-${i}` }),
      ),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(2);
    const refused = responses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(4);
    expect(refused[0]?.body.code).toBe('too_many_executions');
    expect(runsIn(runs)).toHaveLength(2);
  });

  it('keeps counting a handler that runs on after its timeout until it stops', async () => {
    const stubborn = stubbornHandler();
    const server = await startTestServer(
      { OPENEXEC_MAX_CONCURRENT_PER_ACTION: '1', OPENEXEC_RATE_LIMIT_PER_IP: '0' },
      [stubborn.handler],
    );
    servers.push(server);
    const send = (nonce: string) =>
      server.http.post('/execute').send({ action: 'stubborn', payload: {}, nonce });

    const first = await send('s-1');
    expect([first.status, first.body.code]).toEqual([502, 'handler_timeout']);
    // Its outcome is stored, but it is still running: its slot is not free.
    const second = await send('s-2');
    expect([second.status, second.body.code]).toEqual([429, 'too_many_executions']);
    expect(await server.store.lookup('default', 's-2')).toBeNull();
    const overrunning = async () =>
      (await server.http.get('/metrics')).text.match(
        /^openexec_handlers_overrunning\{action="stubborn"\} (\d+)$/m,
      )?.[1];
    expect(await overrunning()).toBe('1');

    stubborn.finish();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await overrunning()).toBe('0');
    // Stopped: the slot is free, and the next run (no longer held up) succeeds.
    expect((await send('s-3')).status).toBe(200);
  });

  it('cuts off a client that sends its headers too slowly (slowloris) with 408', async () => {
    const server = await start({ OPENEXEC_HEADERS_TIMEOUT_MS: '500' });
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.write('POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n');
    // The headers never end: only the server's timeout can close this connection (the test's
    // own timeout would fail it otherwise).
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
      detail: 'the request did not arrive in time',
      code: 'request_timeout',
    });
  });

  it('keeps rate-limiter memory bounded under many client addresses', () => {
    const limiter = new RateLimiter(60, 1, 1_000);
    for (let i = 0; i < 50_000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size).toBe(1_000);
  });
});
