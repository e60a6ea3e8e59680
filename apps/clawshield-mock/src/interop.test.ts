/**
 * Interop with the real openexec-api, started in-process on an ephemeral port with its own
 * SQLite file: what the mock mints must execute there, exactly as the walk-through in
 * docs/local-development.md says.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RunningServer, startServer } from 'openexec-api';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMockApp } from './http.js';
import { generateApproverKey, writeKeyFiles } from './keys.js';
import { type Approver, createApprover, mintLegacy, mintV1 } from './mint.js';
import { ApprovalQueue } from './queue.js';

const TENANT = 't';

interface Api {
  http: ReturnType<typeof supertest>;
  close(): Promise<void>;
}

async function startApi(env: Record<string, string>): Promise<Api> {
  const dir = mkdtempSync(join(tmpdir(), 'clawshield-mock-interop-'));
  const running: RunningServer = await startServer(
    loadConfig({
      PORT: '0',
      OPENEXEC_MODE: 'clawshield',
      CLAWSHIELD_TENANT_ID: TENANT,
      OPENEXEC_DB_URL: `sqlite:///${join(dir, 'x.db')}`,
      ...env,
    }),
  );
  return {
    http: supertest(running.url),
    close: async () => {
      await running.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('interop with openexec-api', () => {
  const key = generateApproverKey();
  const approver: Approver = createApprover({ key, tenant: TENANT });
  const payload = { msg: 'h\u00e9llo \u{1F600}' };

  describe('started with OPENEXEC_ALLOW_MOCK_APPROVER=1 and CLAWSHIELD_PUBLIC_KEY', () => {
    let api: Api;
    beforeAll(async () => {
      api = await startApi({ CLAWSHIELD_PUBLIC_KEY: key.publicPem, OPENEXEC_ALLOW_MOCK_APPROVER: '1' });
    });
    afterAll(async () => {
      await api.close();
    });
    const execute = (body: Record<string, unknown>) => api.http.post('/execute').send(body);

    it('executes a mock v1 approval; its replay returns the stored result', async () => {
      const { artifact } = mintV1(approver, { action: 'echo', payload, nonce: 'v1-a' });
      const body = { action: 'echo', payload, nonce: 'v1-a', approval_artifact: artifact };
      const first = await execute(body).expect(200);
      expect(first.body).toMatchObject({ approved: true, result: { echo: payload }, replayed: false });
      const replay = await execute(body).expect(200);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.body).toMatchObject({ id: first.body.id, receipt: first.body.receipt, replayed: true });
    });

    it('refuses a nonce-bound v1 approval under another nonce with 403 approval_nonce_mismatch', async () => {
      const { artifact } = mintV1(approver, { action: 'echo', payload, nonce: 'v1-b' });
      const response = await execute({ action: 'echo', payload, nonce: 'v1-c', approval_artifact: artifact });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_nonce_mismatch');
    });

    it('executes a mock legacy approval once: replay answered, reuse under a new nonce 403 approval_already_used', async () => {
      const { artifact } = mintLegacy(approver, { action: 'add', payload: { a: 2, b: 3 } });
      const body = { action: 'add', payload: { a: 2, b: 3 }, nonce: 'legacy-a', approval_artifact: artifact };
      const first = await execute(body).expect(200);
      expect(first.body.approved).toBe(true);
      const replay = await execute(body).expect(200);
      expect(replay.body).toMatchObject({ id: first.body.id, result: first.body.result, replayed: true });
      const reuse = await execute({ ...body, nonce: 'legacy-b' });
      expect(reuse.status).toBe(403);
      expect(reuse.body.code).toBe('approval_already_used');
    });

    it('accepts the legacy receipt of a mock-approved execution at POST /receipts/verify', async () => {
      const { artifact } = mintLegacy(approver, { action: 'echo', payload });
      const done = await execute({
        action: 'echo',
        payload,
        nonce: 'legacy-r',
        approval_artifact: artifact,
      }).expect(200);
      const verdict = await api.http
        .post('/receipts/verify')
        .send({ exec_id: done.body.id, result: done.body.result, receipt: done.body.receipt })
        .expect(200);
      expect(verdict.body.valid).toBe(true);
    });

    it('executes what an agent requested and a human approved through the queue', async () => {
      const mock = supertest(createMockApp({ approver, queue: new ApprovalQueue(approver) }));
      const { id } = (
        await mock.post('/requests').send({ action: 'echo', payload, nonce: 'queue-a' }).expect(201)
      ).body;
      await mock.post(`/requests/${id}/approve`).expect(200);
      const { artifact } = (await mock.get(`/requests/${id}`).expect(200)).body;
      const response = await execute({
        action: 'echo',
        payload,
        nonce: 'queue-a',
        approval_artifact: artifact,
      });
      expect(response.status).toBe(200);
      expect(response.body.result).toEqual({ echo: payload });
    });
  });

  describe('started with the JWKS file keygen writes (OPENEXEC_APPROVAL_KEYS_FILE)', () => {
    it('executes a mock v1 approval (the kid in the JWKS is the one in the token)', async () => {
      const files = writeKeyFiles(mkdtempSync(join(tmpdir(), 'clawshield-mock-jwks-')), key);
      const api = await startApi({
        OPENEXEC_APPROVAL_KEYS_FILE: files.jwks,
        OPENEXEC_ALLOW_MOCK_APPROVER: '1',
      });
      try {
        const { artifact } = mintV1(approver, { action: 'echo', payload });
        const response = await api.http
          .post('/execute')
          .send({ action: 'echo', payload, nonce: 'jwks-a', approval_artifact: artifact });
        expect(response.status).toBe(200);
      } finally {
        await api.close();
      }
    });
  });

  describe('started WITHOUT OPENEXEC_ALLOW_MOCK_APPROVER', () => {
    let api: Api;
    beforeAll(async () => {
      api = await startApi({ CLAWSHIELD_PUBLIC_KEY: key.publicPem });
    });
    afterAll(async () => {
      await api.close();
    });

    it('refuses a mock v1 approval with 403 approval_issuer_not_allowed', async () => {
      const { artifact } = mintV1(approver, { action: 'echo', payload, nonce: 'no-mock-a' });
      const response = await api.http
        .post('/execute')
        .send({ action: 'echo', payload, nonce: 'no-mock-a', approval_artifact: artifact });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_issuer_not_allowed');
    });

    it('refuses a mock legacy approval (issued_by mock:*) with 403 approval_issuer_not_allowed', async () => {
      const { artifact } = mintLegacy(approver, { action: 'echo', payload });
      const response = await api.http
        .post('/execute')
        .send({ action: 'echo', payload, nonce: 'no-mock-b', approval_artifact: artifact });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_issuer_not_allowed');
    });
  });
});
