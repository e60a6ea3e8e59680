import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApproverKey, mintLegacy, mintV1, newApproverKey } from './test-support/approvals.js';
import { countingHandler, runsIn } from './test-support/handlers.js';
import { startTestServer, type TestServer } from './test-support/server.js';

const TENANT = 'tenant-001';

describe('clawshield mode', () => {
  let server: TestServer;
  let key: ApproverKey;
  let runs: string;
  const execute = (body: Record<string, unknown>) => server.http.post('/execute').send(body);

  beforeAll(async () => {
    key = newApproverKey();
    runs = join(mkdtempSync(join(tmpdir(), 'openexec-runs-')), 'runs.log');
    server = await startTestServer(
      { OPENEXEC_MODE: 'clawshield', CLAWSHIELD_PUBLIC_KEY: key.publicPem, CLAWSHIELD_TENANT_ID: TENANT },
      [countingHandler(runs)],
    );
  });
  afterAll(async () => {
    await server.close();
  });

  describe('the Python service constitutional tests', () => {
    it('executes with a valid (legacy) artifact', async () => {
      const artifact = mintLegacy(key, {
        tenant: TENANT,
        action: 'echo',
        payload: { msg: 'constitutional' },
      });
      const response = await execute({
        action: 'echo',
        payload: { msg: 'constitutional' },
        nonce: 'const-valid-1',
        approval_artifact: artifact,
      });
      expect(response.status).toBe(200);
      expect(response.body.approved).toBe(true);
      expect(response.body.result.echo.msg).toBe('constitutional');
    });

    it('rejects a missing artifact with 403', async () => {
      const response = await execute({
        action: 'echo',
        payload: { msg: 'no-artifact' },
        nonce: 'const-missing-1',
      });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_missing');
    });

    it('rejects a tampered payload with 403 "hash mismatch"', async () => {
      const artifact = mintLegacy(key, { tenant: TENANT, action: 'echo', payload: { msg: 'original' } });
      const response = await execute({
        action: 'echo',
        payload: { msg: 'tampered' },
        nonce: 'const-tamper-1',
        approval_artifact: artifact,
      });
      expect(response.status).toBe(403);
      expect(response.body.detail).toContain('hash mismatch');
    });

    it('rejects a tenant mismatch with 403 "Tenant mismatch"', async () => {
      const artifact = mintLegacy(key, { tenant: 'wrong-tenant', action: 'echo', payload: { msg: 'hello' } });
      const response = await execute({
        action: 'echo',
        payload: { msg: 'hello' },
        nonce: 'const-tenant-1',
        approval_artifact: artifact,
      });
      expect(response.status).toBe(403);
      expect(response.body.detail).toContain('Tenant mismatch');
    });

    it('rejects an artifact signed by another key with 403 "Invalid signature"', async () => {
      const artifact = mintLegacy(newApproverKey(), {
        tenant: TENANT,
        action: 'echo',
        payload: { msg: 'hello' },
      });
      const response = await execute({
        action: 'echo',
        payload: { msg: 'hello' },
        nonce: 'const-badsig-1',
        approval_artifact: artifact,
      });
      expect(response.status).toBe(403);
      expect(response.body.detail).toContain('Invalid signature');
    });

    it('refuses an expired artifact with 403 approval_expired', async () => {
      const artifact = mintLegacy(key, { tenant: TENANT, action: 'echo', payload: {}, ttlSeconds: -600 });
      const response = await execute({
        action: 'echo',
        payload: {},
        nonce: 'const-expired-1',
        approval_artifact: artifact,
      });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_expired');
    });
  });

  describe('approval consumption', () => {
    it('runs a legacy approval once: the same approval under a new nonce is 403 approval_already_used', async () => {
      const artifact = mintLegacy(key, { tenant: TENANT, action: 'count', payload: {} });
      expect(
        (await execute({ action: 'count', payload: {}, nonce: 'legacy-1', approval_artifact: artifact }))
          .status,
      ).toBe(200);
      const reuse = await execute({
        action: 'count',
        payload: {},
        nonce: 'legacy-2',
        approval_artifact: artifact,
      });
      expect(reuse.status).toBe(403);
      expect(reuse.body.code).toBe('approval_already_used');
      expect(await server.store.lookup(TENANT, 'legacy-2')).toBeNull();
    });

    it('answers a retry of the same nonce and approval from the record (200, replayed)', async () => {
      const token = mintV1(key, { tenant: TENANT, action: 'count', payload: { label: 'retry' } });
      const first = await execute({
        action: 'count',
        payload: { label: 'retry' },
        nonce: 'retry-1',
        approval_artifact: token,
      });
      const again = await execute({
        action: 'count',
        payload: { label: 'retry' },
        nonce: 'retry-1',
        approval_artifact: token,
      });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: first.body.id, replayed: true });
      expect(runsIn(runs).filter((nonce) => nonce === 'retry-1')).toHaveLength(1);
    });

    it('runs an approval raced under 50 nonces exactly max times', async () => {
      const token = mintV1(key, { tenant: TENANT, action: 'count', payload: { label: 'race' }, max: 3 });
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          execute({
            action: 'count',
            payload: { label: 'race' },
            nonce: `race-${i}`,
            approval_artifact: token,
          }),
        ),
      );
      expect(responses.filter((r) => r.status === 200)).toHaveLength(3);
      const refused = responses.filter((r) => r.status === 403);
      expect(refused).toHaveLength(47);
      for (const r of refused) expect(r.body.code).toBe('approval_already_used');
      expect(runsIn(runs).filter((nonce) => nonce.startsWith('race-'))).toHaveLength(3);
    });

    it('runs a nonce-bound approval only under its nonce', async () => {
      const token = mintV1(key, { tenant: TENANT, action: 'count', payload: {}, nonce: 'bound-1' });
      const other = await execute({
        action: 'count',
        payload: {},
        nonce: 'bound-2',
        approval_artifact: token,
      });
      expect(other.status).toBe(403);
      expect(other.body.code).toBe('approval_nonce_mismatch');
      expect(
        (await execute({ action: 'count', payload: {}, nonce: 'bound-1', approval_artifact: token })).status,
      ).toBe(200);
    });
  });

  describe('v1 approvals that must not get through', () => {
    const attempt = (token: unknown, nonce: string, payload: Record<string, unknown> = { label: 'x' }) =>
      execute({ action: 'count', payload, nonce, approval_artifact: token });

    it('refuses alg none with 403 approval_alg_not_allowed', async () => {
      const token = mintV1(key, { tenant: TENANT, action: 'count', payload: { label: 'x' } });
      const [, claims] = token.split('.');
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'openexec-approval+jwt', kid: key.kid })).toString('base64url')}.${claims}.`;
      const response = await attempt(none, 'alg-none');
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_alg_not_allowed');
    });

    it('refuses HS256 keyed with the public key with 403 approval_alg_not_allowed', async () => {
      const token = mintV1(key, {
        tenant: TENANT,
        action: 'count',
        payload: { label: 'x' },
        header: { alg: 'HS256' },
      });
      const input = token.split('.').slice(0, 2).join('.');
      const forged = `${input}.${createHmac('sha256', key.publicPem).update(input).digest('base64url')}`;
      const response = await attempt(forged, 'alg-hs256');
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_alg_not_allowed');
    });

    it('refuses a token for another action, payload or tenant', async () => {
      const other = await attempt(
        mintV1(key, { tenant: TENANT, action: 'echo', payload: { label: 'x' } }),
        'v1-action',
      );
      expect(other.body.code).toBe('approval_action_mismatch');
      const payload = await attempt(
        mintV1(key, { tenant: TENANT, action: 'count', payload: { label: 'y' } }),
        'v1-payload',
      );
      expect(payload.body.code).toBe('approval_payload_mismatch');
      const tenant = await attempt(
        mintV1(key, { tenant: 'other', action: 'count', payload: { label: 'x' } }),
        'v1-tenant',
      );
      expect(tenant.body.code).toBe('approval_audience_mismatch');
      for (const r of [other, payload, tenant]) expect(r.status).toBe(403);
    });

    it('refuses expired, not-yet-valid and too-long-lived tokens', async () => {
      const expired = await attempt(
        mintV1(key, {
          tenant: TENANT,
          action: 'count',
          payload: { label: 'x' },
          issuedAtOffsetSeconds: -1000,
          ttlSeconds: 300,
        }),
        'v1-expired',
      );
      expect(expired.body.code).toBe('approval_expired');
      const future = await attempt(
        mintV1(key, { tenant: TENANT, action: 'count', payload: { label: 'x' }, issuedAtOffsetSeconds: 600 }),
        'v1-future',
      );
      expect(future.body.code).toBe('approval_not_yet_valid');
      const long = await attempt(
        mintV1(key, { tenant: TENANT, action: 'count', payload: { label: 'x' }, ttlSeconds: 7200 }),
        'v1-long',
      );
      expect(long.body.code).toBe('approval_lifetime_too_long');
    });

    it('refuses a token from an unknown key id, or signed by a key not configured', async () => {
      const stranger = newApproverKey(key.kid);
      const wrongKey = await attempt(
        mintV1(stranger, { tenant: TENANT, action: 'count', payload: { label: 'x' } }),
        'v1-wrong-key',
      );
      expect(wrongKey.body.code).toBe('approval_signature_invalid');
      const unknown = await attempt(
        mintV1(newApproverKey('nobody'), { tenant: TENANT, action: 'count', payload: { label: 'x' } }),
        'v1-unknown-kid',
      );
      expect(unknown.body.code).toBe('approval_unknown_key');
    });

    it('answers a malformed artifact with 400 approval_malformed', async () => {
      for (const [token, nonce] of [
        ['not.a.jwt', 'm-1'],
        [12, 'm-2'],
        ['x'.repeat(20_000), 'm-3'],
      ] as const) {
        const response = await attempt(token, nonce);
        expect(response.status).toBe(400);
        expect([nonce, response.body.code, response.body.detail]).toEqual([
          nonce,
          'approval_malformed',
          expect.any(String),
        ]);
      }
    });

    it('refuses a mock: issuer unless the development flag is set', async () => {
      const response = await attempt(
        mintV1(key, {
          tenant: TENANT,
          action: 'count',
          payload: { label: 'x' },
          iss: 'mock:clawshield-mock',
        }),
        'v1-mock',
      );
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_issuer_not_allowed');
    });

    it('ran none of the refused requests', () => {
      const refused = runsIn(runs).filter(
        (nonce) => nonce.startsWith('v1-') || nonce.startsWith('alg-') || nonce.startsWith('m-'),
      );
      expect(refused).toEqual([]);
    });
  });

  it('says on /health how many approval keys are loaded, never the keys', async () => {
    const response = await server.http.get('/health');
    expect(response.body).toMatchObject({
      exec_mode: 'clawshield',
      signature_verification: 'enabled',
      approval_keys: 1,
    });
    expect(JSON.stringify(response.body)).not.toContain(key.jwk.x);
  });
});

describe('clawshield mode with a key-set file', () => {
  it('accepts approvals from every key of the set (rotation without downtime) and refuses a key outside its window', async () => {
    const [oldKey, newKey, retired] = [
      newApproverKey('2026-01'),
      newApproverKey('2026-06'),
      newApproverKey('2025-01'),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'openexec-keys-'));
    const file = join(dir, 'approvers.jwks.json');
    const past = Math.floor(Date.now() / 1000) - 3600;
    writeFileSync(file, JSON.stringify({ keys: [oldKey.jwk, newKey.jwk, { ...retired.jwk, exp: past }] }));
    const server = await startTestServer({
      OPENEXEC_MODE: 'clawshield',
      OPENEXEC_APPROVAL_KEYS_FILE: file,
      CLAWSHIELD_TENANT_ID: TENANT,
    });
    try {
      expect((await server.http.get('/health')).body.approval_keys).toBe(3);
      for (const [k, nonce] of [
        [oldKey, 'rot-1'],
        [newKey, 'rot-2'],
      ] as const) {
        const token = mintV1(k, { tenant: TENANT, action: 'echo', payload: { n: nonce } });
        expect(
          (
            await server.http
              .post('/execute')
              .send({ action: 'echo', payload: { n: nonce }, nonce, approval_artifact: token })
          ).status,
        ).toBe(200);
      }
      const token = mintV1(retired, { tenant: TENANT, action: 'echo', payload: {} });
      const response = await server.http
        .post('/execute')
        .send({ action: 'echo', payload: {}, nonce: 'rot-3', approval_artifact: token });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('approval_key_not_valid');
    } finally {
      await server.close();
    }
  });

  it('stops start-up with a message naming the variable when the key file is missing or bad', async () => {
    await expect(
      startTestServer({
        OPENEXEC_MODE: 'clawshield',
        OPENEXEC_APPROVAL_KEYS_FILE: '/nonexistent.json',
        CLAWSHIELD_TENANT_ID: TENANT,
      }),
    ).rejects.toThrow(/^OPENEXEC_APPROVAL_KEYS_FILE: cannot read/);
    const { privateKey } = generateKeyPairSync('ed25519');
    await expect(
      startTestServer({
        OPENEXEC_MODE: 'clawshield',
        CLAWSHIELD_PUBLIC_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        CLAWSHIELD_TENANT_ID: TENANT,
      }),
    ).rejects.toThrow(/^CLAWSHIELD_PUBLIC_KEY: /);
  });
});
