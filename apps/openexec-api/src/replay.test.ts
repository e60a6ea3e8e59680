import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '@openexec/approval-verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  badOutputHandler,
  countingHandler,
  failingHandler,
  runsIn,
  timeoutHandler,
  untilRunning,
} from './test-support/handlers.js';
import { startTestServer, type TestServer } from './test-support/server.js';

describe('replays of a nonce', () => {
  let server: TestServer;
  let runs: string;
  beforeAll(async () => {
    runs = join(mkdtempSync(join(tmpdir(), 'openexec-runs-')), 'runs.log');
    server = await startTestServer({ OPENEXEC_MAX_CONCURRENT_PER_ACTION: '1000' }, [
      countingHandler(runs),
      failingHandler,
      timeoutHandler,
      badOutputHandler,
    ]);
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers a replay of a running execution with 409 execution_in_progress and Retry-After', async () => {
    const slow = server.http
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 2_000 }, nonce: 'slow-1' })
      .then((r) => r);
    await untilRunning(runs, 'slow-1');
    const replay = await server.http
      .post('/execute')
      .send({ action: 'count', payload: { delayMs: 2_000 }, nonce: 'slow-1' });
    expect(replay.status).toBe(409);
    expect(replay.body).toMatchObject({ code: 'execution_in_progress' });
    expect(replay.headers['retry-after']).toBe('1');
    expect((await slow).status).toBe(200);
    expect(runsIn(runs).filter((nonce) => nonce === 'slow-1')).toHaveLength(1);
  });

  it('answers the same nonce with a different request with 422 nonce_conflict and runs nothing', async () => {
    await server.http
      .post('/execute')
      .send({ action: 'count', payload: { label: 'a' }, nonce: 'conflict-1' });
    const response = await server.http
      .post('/execute')
      .send({ action: 'count', payload: { label: 'b' }, nonce: 'conflict-1' });
    expect(response.status).toBe(422);
    expect(response.body.code).toBe('nonce_conflict');
    expect(runsIn(runs).filter((nonce) => nonce === 'conflict-1')).toHaveLength(1);
  });

  it('digests the request as SHA-256 of RFC 8785 {action, payload}', async () => {
    const payload = { z: [1, 2.5, { b: null, a: 'héllo 😀' }], a: '\u0007' };
    await server.http.post('/execute').send({ action: 'echo', payload, nonce: 'digest-1' });
    const expected = createHash('sha256')
      .update(canonicalJson({ action: 'echo', payload }), 'utf8')
      .digest('base64url');
    expect((await server.store.lookup('default', 'digest-1'))?.requestDigest).toBe(expected);
  });

  it('accepts the Idempotency-Key header as the nonce', async () => {
    const first = await server.http
      .post('/execute')
      .set('Idempotency-Key', 'key-1')
      .send({ action: 'echo', payload: { x: 1 } });
    const second = await server.http
      .post('/execute')
      .set('Idempotency-Key', 'key-1')
      .send({ action: 'echo', payload: { x: 1 } });
    expect(first.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, replayed: true, nonce: 'key-1' });
  });

  it('stores a handler that throws as a failed outcome and replays it without running again', async () => {
    const first = await server.http
      .post('/execute')
      .send({ action: 'fail', payload: { secret: 'hunter2' }, nonce: 'fail-1' });
    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ code: 'handler_error', status: 'failed', result: null });
    expect(JSON.stringify(first.body)).not.toContain('hunter2');
    const replay = await server.http
      .post('/execute')
      .send({ action: 'fail', payload: { secret: 'hunter2' }, nonce: 'fail-1' });
    expect(replay.status).toBe(502);
    expect(replay.body).toMatchObject({ id: first.body.id, code: 'handler_error', replayed: true });
    expect(await server.store.lookup('default', 'fail-1')).toMatchObject({
      state: 'failed',
      errorCode: 'handler_error',
    });
  });

  it('stores a handler timeout as a failed outcome', async () => {
    const response = await server.http
      .post('/execute')
      .send({ action: 'hang', payload: {}, nonce: 'hang-1' });
    expect(response.status).toBe(502);
    expect(response.body.code).toBe('handler_timeout');
    expect(await server.store.lookup('default', 'hang-1')).toMatchObject({
      state: 'failed',
      errorCode: 'handler_timeout',
    });
  });

  it('stores a result outside the output schema as a failed outcome, not a 500', async () => {
    const response = await server.http
      .post('/execute')
      .send({ action: 'bad-output', payload: {}, nonce: 'bad-1' });
    expect(response.status).toBe(502);
    expect(response.body.code).toBe('handler_output_invalid');
  });

  it('runs a handler exactly once for 200 concurrent requests with one nonce', async () => {
    const responses = await Promise.all(
      Array.from({ length: 200 }, () =>
        server.http.post('/execute').send({ action: 'count', payload: { delayMs: 50 }, nonce: 'storm' }),
      ),
    );
    const ok = responses.filter((response) => response.status === 200);
    const busy = responses.filter((response) => response.status === 409);
    expect(ok.length + busy.length).toBe(200);
    expect(new Set(ok.map((response) => response.body.id)).size).toBe(1);
    for (const response of busy) expect(response.body.code).toBe('execution_in_progress');
    expect(runsIn(runs).filter((nonce) => nonce === 'storm')).toHaveLength(1);
  });
});
