import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support/server.js';

// POST /execute is served outside Express (execute-route.ts): it must answer as Express did.
const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});
async function start(env: Record<string, string> = {}) {
  const server = await startTestServer(env);
  servers.push(server);
  return server;
}
const echo = (nonce: string) => ({ action: 'echo', payload: { n: 1 }, nonce });

/** Sends `request` as it is written and resolves with everything the server answered. */
function rawRequest(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(Number(port), hostname, () => socket.write(request));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('the /execute route', () => {
  it('serves the paths Express matched: any case, a trailing slash, a query string', async () => {
    const server = await start();
    for (const [path, nonce] of [
      ['/execute', 'p-1'],
      ['/EXECUTE', 'p-2'],
      ['/execute/', 'p-3'],
      ['/execute?trace=1', 'p-4'],
    ] as const) {
      const response = await server.http.post(path).send(echo(nonce));
      expect(response.status, path).toBe(200);
      expect(response.body.result, path).toEqual({ echo: { n: 1 } });
    }
    expect(await server.store.lookup('default', 'p-4')).not.toBeNull();
    // Absolute-form request target, as a proxy may send it.
    const absolute = await rawRequest(
      server.url,
      `POST ${server.url}/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${JSON.stringify(echo('p-6')).length}\r\nConnection: close\r\n\r\n${JSON.stringify(echo('p-6'))}`,
    );
    expect(absolute).toMatch(/^HTTP\/1\.1 200 /);
    // Look-alike paths are Express's: 404 not_found; another method on /execute is 405.
    for (const [method, path] of [
      ['post', '/execute/x'],
      ['post', '/executes'],
    ] as const) {
      const response = await server.http[method](path).send(echo('p-5'));
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
    const get = await server.http.get('/execute').send(echo('p-5'));
    expect(get.status).toBe(405);
    expect(get.body.code).toBe('method_not_allowed');
    expect(await server.store.lookup('default', 'p-5')).toBeNull();
  });

  it('sends the headers every route sends, on answers and on errors', async () => {
    const server = await start();
    const ok = await server.http.post('/execute').set('X-Request-Id', 'trace-42').send(echo('h-1'));
    const bad = await server.http.post('/execute').send({ action: 'echo', nonce: '' });
    const health = await server.http.get('/health');
    for (const response of [ok, bad, health]) {
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.text));
      expect(response.headers['x-request-id']).toMatch(/./);
    }
    expect(ok.headers['x-request-id']).toBe('trace-42');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_request');
    const lines = server.logs.filter((line) => line.route === '/execute');
    expect(lines.map((line) => [line.status, line.code ?? null])).toEqual([
      [200, null],
      [400, 'invalid_request'],
    ]);
  });

  it('reads compressed bodies and refuses what the JSON parser always refused', async () => {
    const server = await start();
    const post = (headers: Record<string, string>, body: Buffer) =>
      fetch(`${server.url}/execute`, { method: 'POST', headers, body });
    const gzipped = await post(
      { 'Content-Type': 'application/json; charset=utf-8', 'Content-Encoding': 'gzip' },
      gzipSync(JSON.stringify(echo('g-1'))),
    );
    expect(gzipped.status).toBe(200);
    const notGzip = await post(
      { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      Buffer.from(JSON.stringify(echo('g-2'))),
    );
    expect([notGzip.status, ((await notGzip.json()) as { code: string }).code]).toEqual([
      400,
      'invalid_request',
    ]);
    const latin1 = await post(
      { 'Content-Type': 'application/json; charset=latin1' },
      Buffer.from(JSON.stringify(echo('g-3'))),
    );
    expect([latin1.status, ((await latin1.json()) as { code: string }).code]).toEqual([
      415,
      'unsupported_media_type',
    ]);
    expect(await server.store.lookup('default', 'g-2')).toBeNull();
    expect(await server.store.lookup('default', 'g-3')).toBeNull();
  });

  it('keys the per-address rate limit on the proxy-reported address only when told to trust the proxy', async () => {
    // 6 per minute: a burst of 1 per address.
    const direct = await start({ OPENEXEC_RATE_LIMIT_PER_IP: '6' });
    const first = await direct.http.post('/execute').set('X-Forwarded-For', '198.51.100.1').send(echo('r-1'));
    const spoofed = await direct.http
      .post('/execute')
      .set('X-Forwarded-For', '198.51.100.2')
      .send(echo('r-2'));
    expect([first.status, spoofed.status]).toEqual([200, 429]);

    const proxied = await start({ OPENEXEC_RATE_LIMIT_PER_IP: '6', OPENEXEC_TRUST_PROXY: 'true' });
    const statuses = [];
    for (const [client, nonce] of [
      ['198.51.100.1', 't-1'],
      ['198.51.100.2', 't-2'],
      ['198.51.100.1', 't-3'],
      // Only the hop the proxy appended counts: what the client wrote before it is not trusted.
      ['203.0.113.9, 198.51.100.2', 't-4'],
    ] as const) {
      statuses.push(
        (await proxied.http.post('/execute').set('X-Forwarded-For', client).send(echo(nonce))).status,
      );
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
  });
});
