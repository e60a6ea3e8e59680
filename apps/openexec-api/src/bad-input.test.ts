import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countingHandler, runsIn } from './test-support/handlers.js';
import { startTestServer, type TestServer } from './test-support/server.js';

// Every case: a 4xx with `detail` and a stable `code`, no stored row, no handler run.
describe('bad input to POST /execute', () => {
  let server: TestServer;
  let runs: string;
  beforeAll(async () => {
    runs = join(mkdtempSync(join(tmpdir(), 'openexec-runs-')), 'runs.log');
    server = await startTestServer(
      { OPENEXEC_BODY_LIMIT_BYTES: '2048', OPENEXEC_ALLOWED_ACTIONS: 'count,echo' },
      [countingHandler(runs)],
    );
  });
  afterAll(async () => {
    await server.close();
  });

  const json = (body: unknown) =>
    server.http
      .post('/execute')
      .set('Content-Type', 'application/json')
      .send(body as object);
  const raw = (text: string, type = 'application/json') =>
    server.http.post('/execute').set('Content-Type', type).send(text);

  const cases: Array<[string, () => ReturnType<typeof json>, number, string]> = [
    ['malformed JSON', () => raw('{"action": "count", "nonce": '), 400, 'malformed_json'],
    [
      // JSON.parse would run "count"; a proxy keeping the first name would see "echo".
      'a repeated member name',
      () => raw('{"action":"echo","action":"count","payload":{},"nonce":"n-17"}'),
      400,
      'malformed_json',
    ],
    [
      'a repeated member name in the payload',
      () => raw('{"action":"count","payload":{"label":"a","label":"b"},"nonce":"n-18"}'),
      400,
      'malformed_json',
    ],
    ['a JSON string instead of an object', () => raw('"count"'), 400, 'malformed_json'],
    ['a JSON array', () => json([{ action: 'count', nonce: 'n' }]), 400, 'invalid_request'],
    ['a number as action', () => json({ action: 7, nonce: 'n-1' }), 400, 'invalid_request'],
    ['a missing nonce', () => json({ action: 'count', payload: {} }), 400, 'invalid_request'],
    ['an empty nonce', () => json({ action: 'count', payload: {}, nonce: '' }), 400, 'invalid_request'],
    [
      'a nonce over 200 characters',
      () => json({ action: 'count', payload: {}, nonce: 'n'.repeat(201) }),
      400,
      'invalid_request',
    ],
    [
      'a nonce with a control character',
      () => json({ action: 'count', payload: {}, nonce: 'a\u0000b' }),
      400,
      'invalid_request',
    ],
    ['a numeric nonce', () => json({ action: 'count', payload: {}, nonce: 12 }), 400, 'invalid_request'],
    [
      // It could not be signed into a receipt, nor typed by an operator resolving it.
      'a nonce with a lone surrogate',
      () => raw('{"action":"count","payload":{},"nonce":"n-16\\ud800"}'),
      400,
      'invalid_request',
    ],
    ['an unknown action', () => json({ action: 'rm-rf', payload: {}, nonce: 'n-2' }), 400, 'unknown_action'],
    [
      'an action not allowed',
      () => json({ action: 'add', payload: { a: 1, b: 2 }, nonce: 'n-3' }),
      400,
      'action_not_allowed',
    ],
    [
      'an extra unknown field',
      () => json({ action: 'count', payload: {}, nonce: 'n-4', sudo: true }),
      400,
      'invalid_request',
    ],
    [
      'a __proto__ key',
      () => raw('{"action":"count","payload":{"__proto__":{"polluted":true}},"nonce":"n-5"}'),
      400,
      'forbidden_key',
    ],
    [
      'a constructor key',
      () => raw('{"action":"count","payload":{"constructor":{"prototype":1}},"nonce":"n-6"}'),
      400,
      'forbidden_key',
    ],
    [
      'a payload that is an array',
      () => json({ action: 'count', payload: [1, 2], nonce: 'n-7' }),
      400,
      'invalid_request',
    ],
    [
      'a payload that is a string',
      () => json({ action: 'count', payload: 'x', nonce: 'n-8' }),
      400,
      'invalid_request',
    ],
    [
      'a payload outside the handler schema',
      () => json({ action: 'count', payload: { label: 5 }, nonce: 'n-9' }),
      400,
      'invalid_payload',
    ],
    [
      'a payload with unknown fields for the handler',
      () => json({ action: 'count', payload: { rm: true }, nonce: 'n-10' }),
      400,
      'invalid_payload',
    ],
    [
      'a body over the limit',
      () => json({ action: 'count', payload: { label: 'x'.repeat(4096) }, nonce: 'n-11' }),
      413,
      'payload_too_large',
    ],
    [
      'a text/plain body',
      () => raw('{"action":"count","nonce":"n-12"}', 'text/plain'),
      415,
      'unsupported_media_type',
    ],
    [
      'a form body',
      () => raw('action=count&nonce=n-13', 'application/x-www-form-urlencoded'),
      415,
      'unsupported_media_type',
    ],
    [
      'JSON nested too deeply',
      () => raw(`{"action":"echo","nonce":"n-14","payload":{"a":${'['.repeat(40)}${']'.repeat(40)}}}`),
      400,
      'too_deep',
    ],
    [
      'a body nonce differing from Idempotency-Key',
      () => json({ action: 'count', payload: {}, nonce: 'n-15' }).set('Idempotency-Key', 'other'),
      400,
      'nonce_mismatch',
    ],
  ];

  for (const [name, send, status, code] of cases) {
    it(`answers ${name} with ${status} ${code}`, async () => {
      const response = await send();
      expect(response.status).toBe(status);
      expect(response.body).toEqual({ detail: expect.any(String), code });
      expect(response.body.detail.length).toBeGreaterThan(0);
    });
  }

  it('stored nothing and ran nothing for all of the above', async () => {
    for (let i = 1; i <= 18; i++) expect(await server.store.lookup('default', `n-${i}`)).toBeNull();
    expect(runsIn(runs)).toEqual([]);
    // The service is still healthy and executes a good request.
    const ok = await json({ action: 'count', payload: {}, nonce: 'good' });
    expect(ok.status).toBe(200);
    expect(runsIn(runs)).toEqual(['good']);
  });

  it('answers another method on /execute with 405 method_not_allowed and Allow: POST', async () => {
    for (const method of ['get', 'put', 'delete', 'patch'] as const) {
      const response = await server.http[method]('/execute');
      expect(response.status).toBe(405);
      expect(response.headers.allow).toBe('POST');
      expect(response.body).toEqual({ detail: expect.any(String), code: 'method_not_allowed' });
    }
  });

  it('answers an unknown route with 404 not_found', async () => {
    const response = await server.http.get('/nope');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ detail: expect.any(String), code: 'not_found' });
  });

  it('answers an Idempotency-Key sent twice with 400 invalid_request, and runs nothing', async () => {
    const response = await server.http
      .post('/execute')
      .set('Content-Type', 'application/json')
      // superagent sends an array as repeated headers; its types allow that for Cookie only.
      .set('Idempotency-Key', ['k-1', 'k-2'] as unknown as string)
      .send({ action: 'count', payload: {} });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ detail: expect.any(String), code: 'invalid_request' });
    expect(await server.store.lookup('default', 'k-1, k-2')).toBeNull();
    expect(runsIn(runs)).not.toContain('k-1, k-2');
  });

  /** Sends `text` as it is and returns the status line's code and the parsed body. */
  const rawHttp = (text: string | Buffer) => {
    const { hostname, port } = new URL(server.url);
    return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      // Written, not ended: a half-closed socket may be closed before a slower answer.
      const socket = net.connect(Number(port), hostname, () => socket.write(text));
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk.toString();
      });
      socket.on('close', () =>
        resolve({
          status: Number(answer.slice(9, 12)),
          body: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)),
        }),
      );
      socket.on('error', reject);
    });
  };

  it('answers a body that is not valid UTF-8 with 400 malformed_json, and keeps a real U+FFFD', async () => {
    const post = (nonce: Buffer) => {
      const body = Buffer.concat([
        Buffer.from('{"action":"count","payload":{},"nonce":"'),
        nonce,
        Buffer.from('"}'),
      ]);
      const head = `POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
      return rawHttp(Buffer.concat([Buffer.from(head), body]));
    };
    expect(await post(Buffer.from([0x62, 0x75, 0xff, 0xfe]))).toEqual({
      status: 400,
      body: { detail: 'request body is not valid UTF-8', code: 'malformed_json' },
    });
    expect((await post(Buffer.from('utf8-\uFFFD'))).status).toBe(200);
  });

  it('answers a POST without a body (no length, no chunks) with 400 invalid_request, not 415', async () => {
    expect(
      await rawHttp(
        'POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n',
      ),
    ).toEqual({ status: 400, body: { detail: 'a JSON request body is required', code: 'invalid_request' } });
  });

  it('answers requests the HTTP parser refuses in the same {detail, code} shape', async () => {
    const both = await rawHttp(
      'POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(both).toEqual({ status: 400, body: { detail: expect.any(String), code: 'malformed_http' } });
    const target = await rawHttp(
      'POST http://[::1/execute HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    expect(target).toEqual({ status: 400, body: { detail: expect.any(String), code: 'invalid_request' } });
    const huge = await rawHttp(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toEqual({ status: 431, body: { detail: expect.any(String), code: 'headers_too_large' } });
  });

  it('names at most ten unknown fields, each cut short, whatever was sent', async () => {
    const extra = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}${'x'.repeat(70)}`, 1]));
    const response = await server.http
      .post('/execute')
      .set('Content-Type', 'application/json')
      .send({ action: 'count', nonce: 'many-keys', ...extra });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_request');
    expect(response.body.detail).toContain('and 15 more');
    expect(response.body.detail).not.toContain('k10x');
    expect(response.body.detail.length).toBeLessThan(800);
  });

  it('answers a path parameter that is not valid percent-encoding with 400 invalid_request', async () => {
    const response = await server.http.get('/receipts/%E0%A4%A');
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ detail: expect.any(String), code: 'invalid_request' });
  });

  it('answers bad input to /receipts/verify with 400', async () => {
    const response = await server.http.post('/receipts/verify').send({ exec_id: 1 });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_request');
  });
});
