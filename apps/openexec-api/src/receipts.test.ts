import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { verifyChain, verifyCheckpoint } from '@openexec/receipts';
import supertest from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { mintV1, newApproverKey } from './test-support/approvals.js';
import { countingHandler, failingHandler } from './test-support/handlers.js';
import { type ServiceProcess, spawnService } from './test-support/process.js';
import { startTestServer, type TestServer } from './test-support/server.js';

const receiptsCli = join(dirname(createRequire(import.meta.url).resolve('@openexec/receipts')), 'cli.js');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const runs = join(mkdtempSync(join(tmpdir(), 'openexec-runs-')), 'runs.log');
  const started = await startTestServer(env, [countingHandler(runs), failingHandler]);
  cleanups.push(() => started.close());
  return started;
}

async function exportChain(http: ReturnType<typeof supertest>, query = ''): Promise<string[]> {
  const response = await http
    .get(`/receipts${query}`)
    .buffer(true)
    .parse((res, done) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => done(null, text));
    });
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toContain('application/x-ndjson');
  return (response.body as string).split('\n').filter(Boolean);
}

describe('signed receipts', () => {
  it('gives every attempt a receipt: executed, failed, approval-denied and replay-denied', async () => {
    const key = newApproverKey();
    const s = await server({
      OPENEXEC_MODE: 'clawshield',
      CLAWSHIELD_PUBLIC_KEY: key.publicPem,
      CLAWSHIELD_TENANT_ID: 't',
    });
    const token = (payload: Record<string, unknown>, action = 'echo') =>
      mintV1(key, { tenant: 't', action, payload });
    const ok = await s.http
      .post('/execute')
      .send({ action: 'echo', payload: { a: 1 }, nonce: 'n1', approval_artifact: token({ a: 1 }) });
    const failed = await s.http
      .post('/execute')
      .send({ action: 'fail', payload: {}, nonce: 'n2', approval_artifact: token({}, 'fail') });
    const denied = await s.http
      .post('/execute')
      .send({ action: 'echo', payload: { a: 2 }, nonce: 'n3', approval_artifact: token({ a: 1 }) });
    const conflict = await s.http
      .post('/execute')
      .send({ action: 'echo', payload: { a: 9 }, nonce: 'n1', approval_artifact: token({ a: 9 }) });
    const reused = mintV1(key, { tenant: 't', action: 'echo', payload: { a: 3 } });
    await s.http
      .post('/execute')
      .send({ action: 'echo', payload: { a: 3 }, nonce: 'n4', approval_artifact: reused });
    const again = await s.http
      .post('/execute')
      .send({ action: 'echo', payload: { a: 3 }, nonce: 'n5', approval_artifact: reused });
    const replay = await s.http
      .post('/execute')
      .send({ action: 'echo', payload: { a: 1 }, nonce: 'n1', approval_artifact: token({ a: 1 }) });

    expect(ok.body.signed_receipt).toMatchObject({
      seq: 1,
      outcome: 'succeeded',
      exec_id: ok.body.id,
      approval: { issuer: 'approver-1', kid: key.kid },
    });
    expect(failed.body.signed_receipt).toMatchObject({ outcome: 'failed', error_code: 'handler_error' });
    expect(denied.body.signed_receipt).toMatchObject({
      outcome: 'approval_denied',
      error_code: 'approval_payload_mismatch',
      exec_id: null,
    });
    expect([conflict.status, conflict.body.code]).toEqual([422, 'nonce_conflict']);
    expect(conflict.body.signed_receipt).toMatchObject({
      outcome: 'replay_denied',
      error_code: 'nonce_conflict',
    });
    expect(again.body.signed_receipt).toMatchObject({
      outcome: 'replay_denied',
      error_code: 'approval_already_used',
    });
    // A successful replay hands back the original receipt; it is not a new attempt outcome.
    expect(replay.body.signed_receipt).toEqual(ok.body.signed_receipt);
    expect((await s.http.get(`/receipts/${ok.body.id}`)).body).toEqual(ok.body.signed_receipt);

    const lines = await exportChain(s.http);
    expect(lines.map((line) => JSON.parse(line).outcome)).toEqual([
      'succeeded',
      'failed',
      'approval_denied',
      'replay_denied',
      'succeeded',
      'replay_denied',
    ]);
    const jwks = (await s.http.get('/.well-known/openexec-keys.json')).body;
    expect(verifyChain(lines, jwks)).toMatchObject({ valid: true, count: 6, problems: [] });
    // Each published key names the chain it signs: it verifies no other replica's chain.
    const chain = JSON.parse(lines[0] as string).chain as string;
    expect(jwks.keys.map((key: { chain?: string }) => key.chain)).toEqual([chain]);
    const renamed = lines.map((line) =>
      line.replace(`"chain":${JSON.stringify(chain)}`, '"chain":"replica-2"'),
    );
    expect(verifyChain(renamed, jwks).problems.map((p) => p.code)).toContain('ERR_RECEIPT_KEY_NOT_VALID');
  });

  it('exports a chain an auditor verifies offline with the CLI, and names a tampered line', async () => {
    const s = await server();
    for (let i = 0; i < 25; i++)
      await s.http.post('/execute').send({ action: 'echo', payload: { i }, nonce: `n-${i}` });
    const dir = mkdtempSync(join(tmpdir(), 'openexec-audit-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const lines = await exportChain(s.http);
    writeFileSync(join(dir, 'chain.jsonl'), `${lines.join('\n')}\n`);
    writeFileSync(
      join(dir, 'keys.json'),
      JSON.stringify((await s.http.get('/.well-known/openexec-keys.json')).body),
    );
    const checkpoint = (await s.http.get('/checkpoints/latest')).body;
    expect(checkpoint).toMatchObject({ seq: 25 });
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify(checkpoint));
    const cli = (file: string) =>
      spawnSync(
        process.execPath,
        [
          receiptsCli,
          'verify',
          join(dir, file),
          '--keys',
          join(dir, 'keys.json'),
          '--checkpoint',
          join(dir, 'checkpoint.json'),
        ],
        { encoding: 'utf8' },
      );
    const good = cli('chain.jsonl');
    expect(good.status).toBe(0);
    expect(good.stdout).toContain('OK 25 receipts');

    const tampered = [...lines];
    tampered[9] = (tampered[9] as string).replace('"outcome":"succeeded"', '"outcome":"failed"');
    writeFileSync(join(dir, 'tampered.jsonl'), `${tampered.join('\n')}\n`);
    const bad = cli('tampered.jsonl');
    expect(bad.status).toBe(1);
    expect(bad.stdout + bad.stderr).toContain('seq 10');

    writeFileSync(join(dir, 'cut.jsonl'), `${lines.slice(0, 20).join('\n')}\n`);
    const cut = cli('cut.jsonl');
    expect(cut.status).toBe(1);
    expect(cut.stdout + cut.stderr).toContain('ERR_CHAIN_TRUNCATED');
  });

  it('produces a gap-free chain without forks under 100 concurrent executions', async () => {
    // All 100 at once: above the default per-action cap of 64, which would answer some with 429.
    const s = await server({ OPENEXEC_MAX_CONCURRENT_PER_ACTION: '100' });
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        s.http.post('/execute').send({ action: 'echo', payload: { i }, nonce: `c-${i}` }),
      ),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    const lines = await exportChain(s.http);
    expect(lines.map((line) => JSON.parse(line).seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const jwks = (await s.http.get('/.well-known/openexec-keys.json')).body;
    const checkpoint = (await s.http.get('/checkpoints/latest')).body;
    expect(verifyCheckpoint(checkpoint, jwks).valid).toBe(true);
    expect(verifyChain(lines, jwks, { checkpoint })).toMatchObject({ valid: true, count: 100 });
  });

  it('answers POST /receipts/verify for a v1 receipt with {valid, reason}', async () => {
    const s = await server();
    const { body } = await s.http.post('/execute').send({ action: 'echo', payload: {}, nonce: 'v-1' });
    expect((await s.http.post('/receipts/verify').send({ receipt: body.signed_receipt })).body).toEqual({
      valid: true,
      reason: null,
    });
    const edited = { ...body.signed_receipt, action: 'add' };
    const answer = (await s.http.post('/receipts/verify').send({ receipt: edited })).body;
    expect(answer.valid).toBe(false);
    expect(answer.reason).toContain('ERR_RECEIPT_SIGNATURE_INVALID');
  });

  it('keeps old receipts verifiable after a key rotation, and publishes both keys with their windows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openexec-rotate-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = { OPENEXEC_DB_URL: `sqlite:///${join(dir, 'db.sqlite')}`, OPENEXEC_INSTANCE_ID: 'node-r' };
    const first = await startTestServer({ ...env, OPENEXEC_RECEIPT_KEY_FILE: join(dir, 'k1.pem') });
    await first.http.post('/execute').send({ action: 'echo', payload: {}, nonce: 'old' });
    await first.close();
    const second = await startTestServer({ ...env, OPENEXEC_RECEIPT_KEY_FILE: join(dir, 'k2.pem') });
    cleanups.push(() => second.close());
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await second.http.post('/execute').send({ action: 'echo', payload: {}, nonce: 'new' });
    const jwks = (await second.http.get('/.well-known/openexec-keys.json')).body;
    expect(jwks.keys).toHaveLength(2);
    expect(jwks.keys[0].exp).toEqual(expect.any(Number));
    expect(jwks.keys[1].exp).toBeUndefined();
    const lines = await exportChain(second.http, '?chain=node-r');
    expect(verifyChain(lines, jwks)).toMatchObject({ valid: true, count: 2 });
    // A receipt forged later with the retired key is outside that key's window.
    expect(JSON.parse(lines[0] as string).signer_kid).not.toBe(JSON.parse(lines[1] as string).signer_kid);
  });

  it('generates its signing key with mode 0600 and refuses a key file others can read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openexec-keyfile-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const s = await startTestServer({ OPENEXEC_DB_URL: `sqlite:///${join(dir, 'db.sqlite')}` });
    await s.close();
    const keyFile = join(dir, 'openexec-receipt-key.pem');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toContain('PRIVATE KEY');
    chmodSync(keyFile, 0o644);
    await expect(startTestServer({ OPENEXEC_DB_URL: `sqlite:///${join(dir, 'db.sqlite')}` })).rejects.toThrow(
      /readable by others/,
    );
  });
});

describe('receipts after kill -9', () => {
  let service: ServiceProcess | undefined;
  afterEach(() => service?.child.kill('SIGKILL'));

  it('still verify up to the last committed one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openexec-crash-receipts-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      OPENEXEC_DB_URL: `sqlite:///${join(dir, 'db.sqlite')}`,
      TEST_RUNS_FILE: join(dir, 'runs.log'),
      OPENEXEC_INSTANCE_ID: 'crashy',
    };
    service = await spawnService(env);
    const http = supertest(service.url);
    const acknowledged: number[] = [];
    const inFlight = Array.from({ length: 40 }, (_, i) =>
      http
        .post('/execute')
        .send({ action: 'count', payload: {}, nonce: `k-${i}` })
        .then(
          (r) => {
            if (r.status === 200) acknowledged.push(r.body.signed_receipt.seq);
          },
          () => {},
        ),
    );
    // Kill while requests are in flight, but only once some were acknowledged.
    while (acknowledged.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));
    service.child.kill('SIGKILL');
    await Promise.all(inFlight);
    const reader = await startTestServer({ ...env, OPENEXEC_INSTANCE_ID: 'reader' });
    cleanups.push(() => reader.close());
    const lines = await exportChain(reader.http, '?chain=crashy');
    const jwks = (await reader.http.get('/.well-known/openexec-keys.json')).body;
    const result = verifyChain(lines, jwks);
    expect(result.problems).toEqual([]);
    expect(result.valid).toBe(true);
    // Every receipt a client was given is in the verified chain.
    for (const seq of acknowledged) expect(seq).toBeLessThanOrEqual(result.count);
  });
});
