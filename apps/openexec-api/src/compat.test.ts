// The Python service's own demo tests (tests/test_demo_flow.py), over real HTTP.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonResultJson } from './legacy-receipt.js';
import { startTestServer, type TestServer } from './test-support/server.js';

describe('the Python demo flow against this API', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers /health with the service status', async () => {
    const response = await server.http.get('/health');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      status: 'ok',
      exec_mode: 'demo',
      signature_verification: 'disabled',
      restriction: 'open',
      warning: 'No execution allow-list configured',
    });
  });

  it('answers / with the service name and version', async () => {
    const response = await server.http.get('/');
    expect(response.body).toEqual({ service: 'OpenExec', status: 'running', version: expect.any(String) });
  });

  it('answers /version with a version and a naive UTC timestamp', async () => {
    const response = await server.http.get('/version');
    expect(response.status).toBe(200);
    expect(response.body.version).toEqual(expect.any(String));
    expect(response.body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
  });

  it('answers /ready with ready true', async () => {
    const response = await server.http.get('/ready');
    expect(response.status).toBe(200);
    expect(response.body.ready).toBe(true);
  });

  it('executes echo', async () => {
    const response = await server.http
      .post('/execute')
      .send({ action: 'echo', payload: { msg: 'hello' }, nonce: 'test-nonce-1' });
    expect(response.status).toBe(200);
    expect(response.body.action).toBe('echo');
    expect(response.body.result.echo.msg).toBe('hello');
    expect(response.body.approved).toBe(true);
    expect(response.body.receipt).toMatch(/^[0-9a-f]{64}$/);
  });

  it('returns the same execution for a replayed nonce', async () => {
    const first = await server.http
      .post('/execute')
      .send({ action: 'add', payload: { a: 2, b: 3 }, nonce: 'test-nonce-2' });
    const second = await server.http
      .post('/execute')
      .send({ action: 'add', payload: { a: 2, b: 3 }, nonce: 'test-nonce-2' });
    expect(first.body.result).toEqual({ sum: 5 });
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.result).toEqual(first.body.result);
    expect(second.body.receipt).toBe(first.body.receipt);
    expect(second.body.replayed).toBe(true);
    expect(second.headers['idempotent-replayed']).toBe('true');
  });

  it('issues a receipt that verifies, as the Python test checks it', async () => {
    const response = await server.http
      .post('/execute')
      .send({ action: 'add', payload: { a: 10, b: 20 }, nonce: 'test-nonce-3' });
    const resultString = pythonResultJson(response.body.result);
    const expected = createHash('sha256').update(`${response.body.id}:${resultString}`).digest('hex');
    expect(response.body.receipt).toBe(expected);
    const verified = await server.http
      .post('/receipts/verify')
      .send({ exec_id: response.body.id, result: resultString, receipt: response.body.receipt });
    expect(verified.body).toEqual({ valid: true });
    const asObject = await server.http
      .post('/receipts/verify')
      .send({ exec_id: response.body.id, result: response.body.result, receipt: response.body.receipt });
    expect(asObject.body).toEqual({ valid: true });
    const tampered = await server.http
      .post('/receipts/verify')
      .send({ exec_id: response.body.id, result: '{"sum": 31}', receipt: response.body.receipt });
    expect(tampered.body).toEqual({ valid: false });
  });
});

describe('OPENEXEC_ALLOWED_ACTIONS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ OPENEXEC_ALLOWED_ACTIONS: 'echo' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('reports the allow-list on /health', async () => {
    const response = await server.http.get('/health');
    expect(response.body).toMatchObject({ restriction: 'restricted', allow_list: ['echo'] });
    expect(response.body.warning).toBeUndefined();
  });

  it('refuses an action outside the allow-list with 400 action_not_allowed', async () => {
    const response = await server.http
      .post('/execute')
      .send({ action: 'add', payload: { a: 1, b: 2 }, nonce: 'x-1' });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ detail: 'Action not allowed: add', code: 'action_not_allowed' });
    expect(await server.store.lookup('default', 'x-1')).toBeNull();
  });

  it('lists only allowed actions with their JSON Schemas on /actions', async () => {
    const response = await server.http.get('/actions');
    expect(response.body.actions.map((action: { name: string }) => action.name)).toEqual(['echo']);
    expect(response.body.actions[0].inputSchema).toMatchObject({ type: 'object' });
  });
});
