import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintV1, newApproverKey } from './test-support/approvals.js';
import { failingHandler } from './test-support/handlers.js';
import { startTestServer, type TestServer } from './test-support/server.js';

const SECRET = 'sk_live_PLANTED_SECRET_4242';

describe('request logs', () => {
  let server: TestServer;
  const key = newApproverKey();
  beforeAll(async () => {
    server = await startTestServer(
      { OPENEXEC_MODE: 'clawshield', CLAWSHIELD_PUBLIC_KEY: key.publicPem, CLAWSHIELD_TENANT_ID: 't' },
      [failingHandler],
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('writes one JSON line per request with the propagated request id, action, outcome and a nonce hash', async () => {
    const token = mintV1(key, { tenant: 't', action: 'echo', payload: { card: SECRET } });
    const response = await server.http
      .post('/execute')
      .set('X-Request-Id', 'req-abc.123')
      .send({
        action: 'echo',
        payload: { card: SECRET },
        nonce: `nonce-${SECRET}`,
        approval_artifact: token,
      });
    expect(response.status).toBe(200);
    expect(response.headers['x-request-id']).toBe('req-abc.123');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = server.logs.find((entry) => entry.req_id === 'req-abc.123');
    expect(line).toMatchObject({
      level: 'info',
      msg: 'request',
      method: 'POST',
      route: '/execute',
      status: 200,
      action: 'echo',
      outcome: 'succeeded',
      replayed: false,
    });
    expect(line?.nonce_hash).toMatch(/^[0-9a-f]{16}$/);
    expect(line?.duration_ms).toEqual(expect.any(Number));
  });

  it('generates a request id when none (or a malformed one) is given', async () => {
    const response = await server.http.get('/health').set('X-Request-Id', 'bad id with spaces');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never logs payloads, results, approval tokens, nonces or handler error messages', async () => {
    const token = mintV1(key, { tenant: 't', action: 'fail', payload: { secret: SECRET } });
    await server.http
      .post('/execute')
      .send({ action: 'fail', payload: { secret: SECRET }, nonce: `n2-${SECRET}`, approval_artifact: token });
    await server.http
      .post('/execute')
      .send({ action: 'echo', payload: { secret: SECRET }, nonce: 'n3', approval_artifact: `${token}x` });
    await server.http.post('/execute').send({ action: `unknown-${SECRET}`, payload: {}, nonce: 'n4' });
    await server.http
      .post('/execute')
      .set('Content-Type', 'application/json')
      .send(`{"action":"echo","payload":{"x":"${SECRET}"`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const text = JSON.stringify(server.logs);
    expect(server.logs.length).toBeGreaterThanOrEqual(5);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(token.slice(0, 40));
    expect(text).not.toContain(key.jwk.x);
    expect(server.logs.filter((entry) => String(entry.code).startsWith('approval_'))).toHaveLength(1);
    expect(
      server.logs.filter((entry) => entry.code === 'unknown_action' && entry.action === undefined),
    ).toHaveLength(1);
  });
});

describe('GET /metrics', () => {
  it('counts requests no route matched under one label, never their paths', async () => {
    const server = await startTestServer();
    try {
      for (let i = 0; i < 5; i++) {
        await server.http.get(`/receipts/%ZZ-path-${i}`).expect(400);
        await server.http.get(`/no-such-route-${i}`).expect(404);
      }
      const text = (await server.http.get('/metrics')).text;
      expect(text).not.toContain('-path-');
      expect(text).not.toContain('no-such-route');
      expect(text).toContain('openexec_http_requests_total{method="GET",route="unmatched",status="400"} 5');
      expect(text).toContain('openexec_http_requests_total{method="GET",route="unmatched",status="404"} 5');
    } finally {
      await server.close();
    }
  });

  it('exposes requests, executions by outcome, approval rejections, replays, store latency and the receipt chain head', async () => {
    const server = await startTestServer();
    try {
      await server.http.post('/execute').send({ action: 'echo', payload: {}, nonce: 'm-1' });
      await server.http.post('/execute').send({ action: 'echo', payload: {}, nonce: 'm-1' });
      await server.http.post('/execute').send({ action: 'echo', payload: { x: 1 }, nonce: 'm-1' });
      const response = await server.http.get('/metrics');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toContain('text/plain');
      const text = response.text;
      expect(text).toContain('openexec_executions_total{action="echo",outcome="succeeded"} 1');
      expect(text).toContain('openexec_replays_total{kind="served"} 1');
      expect(text).toContain('openexec_replays_total{kind="conflict"} 1');
      expect(text).toMatch(/openexec_reserve_seconds_count \d+/);
      expect(text).toMatch(/openexec_complete_seconds_count 1/);
      expect(text).toMatch(/openexec_receipt_chain_head\{chain="[^"]+"\} 2/);
      expect(text).toContain('openexec_http_requests_total{method="POST",route="/execute",status="200"} 2');
    } finally {
      await server.close();
    }
  });
});

describe('start-up warnings', () => {
  it('warns when approvals from the development mock approver are accepted', async () => {
    const key = newApproverKey();
    const env = {
      OPENEXEC_MODE: 'clawshield',
      CLAWSHIELD_PUBLIC_KEY: key.publicPem,
      CLAWSHIELD_TENANT_ID: 't',
    };
    const mock = await startTestServer({ ...env, OPENEXEC_ALLOW_MOCK_APPROVER: '1' });
    const strict = await startTestServer(env);
    try {
      const warning = (logs: Array<Record<string, unknown>>) =>
        logs.find((line) => String(line.msg).startsWith('OPENEXEC_ALLOW_MOCK_APPROVER is on'));
      expect(warning(mock.logs)).toMatchObject({ level: 'warn' });
      expect(warning(strict.logs)).toBeUndefined();
    } finally {
      await mock.close();
      await strict.close();
    }
  });

  it('warns when the lease is not longer than the longest handler timeout', async () => {
    // failingHandler and the built-in handlers time out after one second: a lease of one
    // second is not longer; the default five minutes is.
    const short = await startTestServer({ OPENEXEC_LEASE_MS: '1000' }, [failingHandler]);
    const normal = await startTestServer({}, [failingHandler]);
    try {
      const warning = (logs: Array<Record<string, unknown>>) =>
        logs.find((line) => String(line.msg).startsWith('OPENEXEC_LEASE_MS is not longer'));
      expect(warning(short.logs)).toMatchObject({ level: 'warn', lease_ms: 1000 });
      expect(warning(normal.logs)).toBeUndefined();
    } finally {
      await short.close();
      await normal.close();
    }
  });
});
