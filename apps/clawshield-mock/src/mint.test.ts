import { legacyActionHash, parseKeySet, payloadDigest, verifyApproval } from '@openexec/approval-verifier';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { createApprover, mintApproval, mintLegacy, mintV1, pythonUtcIsoformat } from './mint.js';
import {
  FIXED_ID,
  FIXED_NOW,
  FIXED_PAYLOAD,
  fixedApprover,
  TENANT,
  TEST_KID,
  TEST_PUBLIC_KEY_PEM,
  testKey,
} from './test-support/fixtures.js';

const keys = parseKeySet({ pem: TEST_PUBLIC_KEY_PEM });
const NOW_S = Math.floor(FIXED_NOW.getTime() / 1000); // 1778414400

/** CPython 3.11 + cryptography, see test-support/fixtures.ts. */
const PYTHON_ACTION_HASH = 'f826c85cc0c2dccb0d98c0d076ee7b0e0fd9dfa8e7371616d3add859b80829e5';
const PYTHON_PDG = 'dDQ3EU5d_HsTu4ZsfvRBtPuIZ0I6Sz2vzWtRw5WkTO4';
const PYTHON_V1_TOKEN =
  'eyJhbGciOiJFZERTQSIsInR5cCI6Im9wZW5leGVjLWFwcHJvdmFsK2p3dCIsImtpZCI6InRkV1hUWjdSSWhabFFiWG5aX2gwakxRb0RBN2lvMmpQU1JXanA1Y2M1UDAifQ' +
  '.eyJpc3MiOiJtb2NrOmNsYXdzaGllbGQtbW9jayIsImF1ZCI6InRlbmFudC0wMDEiLCJqdGkiOiIwZjhmYWQ1Yi1kOWNiLTQ2OWYtYTE2NS03MDg2NzcyODk1MGUiLCJpYXQiOjE3Nzg0MTQ0MDAsIm5iZiI6MTc3ODQxNDQwMCwiZXhwIjoxNzc4NDE0NzAwLCJhY3QiOiJlY2hvIiwicGRnIjoiZERRM0VVNWRfSHNUdTRac2Z2UkJ0UHVJWjBJNlN6MnZ6V3RSdzVXa1RPNCIsIm5vbiI6Im5vbmNlLTEiLCJtYXgiOjJ9' +
  '.kMIpZGzFf-6xufN9wgjFZdTYwq2hsVcVAt0zdFhoaRxmhvq8Vml2KaDl0Y4wkR7mOo1iqoXlblXP2VO-LtG5DA';

describe('mintV1', () => {
  describe('with a fixed key, clock and id', () => {
    const minted = mintV1(fixedApprover(), {
      action: 'echo',
      payload: FIXED_PAYLOAD,
      nonce: 'nonce-1',
      max: 2,
    });

    it('produces exactly the token computed independently in Python', () => {
      expect(minted.artifact).toBe(PYTHON_V1_TOKEN);
    });

    it('carries the header alg EdDSA, typ openexec-approval+jwt and the thumbprint kid', () => {
      expect(decodeProtectedHeader(minted.artifact)).toEqual({
        alg: 'EdDSA',
        typ: 'openexec-approval+jwt',
        kid: TEST_KID,
      });
      expect(minted.header.kid).toBe(TEST_KID);
    });

    it('binds issuer mock:*, tenant, id, times, action, payload digest, nonce and uses', () => {
      expect(decodeJwt(minted.artifact)).toEqual({
        iss: 'mock:clawshield-mock',
        aud: TENANT,
        jti: FIXED_ID,
        iat: NOW_S,
        nbf: NOW_S,
        exp: NOW_S + 300,
        act: 'echo',
        pdg: PYTHON_PDG,
        non: 'nonce-1',
        max: 2,
      });
      expect(minted.claims.pdg).toBe(payloadDigest(FIXED_PAYLOAD));
    });

    it('verifies with @openexec/approval-verifier when mock issuers are allowed', async () => {
      const verified = await verifyApproval(
        minted.artifact,
        { action: 'echo', payload: FIXED_PAYLOAD, nonce: 'nonce-1' },
        { now: FIXED_NOW, tenant: TENANT, keys, allowMockIssuers: true },
      );
      expect(verified).toMatchObject({ format: 'v1', approvalId: FIXED_ID, maxUses: 2, kid: TEST_KID });
    });

    it('is refused by @openexec/approval-verifier with ERR_APPROVAL_ISSUER_NOT_ALLOWED by default', async () => {
      await expect(
        verifyApproval(
          minted.artifact,
          { action: 'echo', payload: FIXED_PAYLOAD, nonce: 'nonce-1' },
          { now: FIXED_NOW, tenant: TENANT, keys },
        ),
      ).rejects.toMatchObject({ code: 'ERR_APPROVAL_ISSUER_NOT_ALLOWED' });
    });
  });

  describe('without optional claims', () => {
    it('omits non, max and sub, and defaults payload to {} and ttl to 300 s', () => {
      const { claims } = mintV1(fixedApprover(), { action: 'add' });
      expect(Object.keys(claims)).toEqual(['iss', 'aud', 'jti', 'iat', 'nbf', 'exp', 'act', 'pdg']);
      expect(claims.pdg).toBe(payloadDigest({}));
      expect(claims.exp - claims.iat).toBe(300);
    });

    it('puts sub next to iss when given', () => {
      const { claims } = mintV1(fixedApprover(), { action: 'add', sub: 'agent-7', ttlSeconds: 60 });
      expect(claims.sub).toBe('agent-7');
      expect(claims.exp - claims.iat).toBe(60);
    });
  });

  describe('with the approver name', () => {
    it('always prefixes the issuer with mock:', () => {
      const approver = createApprover({ key: testKey(), tenant: TENANT, name: 'alice' });
      expect(mintV1(approver, { action: 'echo' }).claims.iss).toBe('mock:alice');
    });

    it('refuses a name that could smuggle another issuer with ERR_MOCK_INVALID_INPUT', () => {
      expect(() => createApprover({ key: testKey(), tenant: TENANT, name: 'x mock:y' })).toThrow(
        expect.objectContaining({
          code: 'ERR_MOCK_INVALID_INPUT',
          message: 'approver name: 1-64 characters of A-Z a-z 0-9 . _ -',
        }),
      );
    });
  });

  describe('with bad input', () => {
    it.each([
      [{ action: 'echo', ttlSeconds: 3601 }, 'ttlSeconds: Too big: expected number to be <=3600'],
      [{ action: 'echo', ttlSeconds: 0 }, 'ttlSeconds: Too small: expected number to be >=1'],
      [{ action: 'echo', max: 0 }, 'max: Too small: expected number to be >=1'],
      [{ action: '' }, 'action: must not be empty'],
      [{ action: 'echo', nonce: ' n' }, 'nonce: must not start or end with whitespace'],
      [{ action: 'echo', extra: 1 }, 'unknown field(s) extra'],
    ])('rejects %j with ERR_MOCK_INVALID_INPUT', (spec, message) => {
      expect(() => mintV1(fixedApprover(), spec as never)).toThrow(
        expect.objectContaining({ code: 'ERR_MOCK_INVALID_INPUT', message }),
      );
    });

    it('rejects a payload that is not I-JSON (lone surrogate)', () => {
      expect(() => mintV1(fixedApprover(), { action: 'echo', payload: { s: '\ud800' } })).toThrow(
        expect.objectContaining({
          code: 'ERR_MOCK_INVALID_INPUT',
          message: expect.stringMatching(/^payload: /),
        }),
      );
    });
  });
});

describe('mintLegacy', () => {
  describe('byte-compatibility with Python clawshield_client.py', () => {
    it('hashes a non-ASCII payload exactly as json.dumps(sort_keys=True, separators=(",",":"))', () => {
      expect(legacyActionHash('echo', FIXED_PAYLOAD)).toBe(PYTHON_ACTION_HASH);
    });

    it('produces the same fields and signature as Python for a clock with microseconds', () => {
      const { artifact } = mintLegacy(fixedApprover(), { action: 'echo', payload: FIXED_PAYLOAD });
      expect(artifact).toEqual({
        approval_id: FIXED_ID,
        tenant_id: TENANT,
        action_hash: PYTHON_ACTION_HASH,
        issued_at: '2026-05-10T12:00:00.123000',
        expires_at: '2026-05-10T12:05:00.123000',
        signature: '4OgqrIsGdx4ZEmE7oXdvzjYWy2pywdHqUUKCy2/WWmLdP6XxWgeTMsWLosljY4cKksRvGQnEbS8s66+4jVEhBg==',
        issued_by: 'mock:clawshield-mock',
      });
      expect(Object.keys(artifact)).toEqual([
        'approval_id',
        'tenant_id',
        'action_hash',
        'issued_at',
        'expires_at',
        'signature',
        'issued_by',
      ]);
    });

    it('omits the fraction like Python isoformat() when the clock is on a whole second', () => {
      const approver = fixedApprover(new Date('2026-05-10T12:00:00.000Z'));
      const { artifact } = mintLegacy(approver, { action: 'echo', payload: FIXED_PAYLOAD, ttlSeconds: 60 });
      expect(artifact.issued_at).toBe('2026-05-10T12:00:00');
      expect(artifact.expires_at).toBe('2026-05-10T12:01:00');
      expect(artifact.signature).toBe(
        'Ut8DiPytvAgR93sbaS/ijD1x+vPBLMhJHvXMvN5w0GWQXU3BQd/iVmxUeU3MN61j8kj8pWaFI3Jp+uFCdqtODg==',
      );
    });
  });

  it('verifies with @openexec/approval-verifier when mock issuers are allowed', async () => {
    const { artifact } = mintLegacy(fixedApprover(), { action: 'echo', payload: FIXED_PAYLOAD });
    const verified = await verifyApproval(
      artifact,
      { action: 'echo', payload: FIXED_PAYLOAD, nonce: 'any' },
      { now: FIXED_NOW, tenant: TENANT, keys, allowMockIssuers: true },
    );
    expect(verified).toMatchObject({
      format: 'legacy',
      approvalId: FIXED_ID,
      issuer: 'mock:clawshield-mock',
    });
  });

  it.each(['nonce', 'max', 'sub'] as const)('refuses %s, which the format cannot carry', (field) => {
    const spec = { action: 'echo', [field]: field === 'max' ? 2 : 'x' };
    expect(() => mintLegacy(fixedApprover(), spec)).toThrow(
      expect.objectContaining({
        code: 'ERR_MOCK_INVALID_INPUT',
        message: `${field}: the legacy format cannot carry it (use the v1 format)`,
      }),
    );
  });
});

describe('mintApproval', () => {
  it('dispatches on the format', () => {
    expect(mintApproval(fixedApprover(), 'v1', { action: 'echo' }).format).toBe('v1');
    expect(mintApproval(fixedApprover(), 'legacy', { action: 'echo' }).format).toBe('legacy');
  });

  it('refuses an unknown format with ERR_MOCK_INVALID_INPUT', () => {
    expect(() => mintApproval(fixedApprover(), 'v2' as never, { action: 'echo' })).toThrow(
      expect.objectContaining({
        code: 'ERR_MOCK_INVALID_INPUT',
        message: 'format: expected v1 or legacy, got v2',
      }),
    );
  });
});

describe('pythonUtcIsoformat', () => {
  it.each([
    ['2026-01-02T03:04:05.000Z', '2026-01-02T03:04:05'],
    ['2026-01-02T03:04:05.001Z', '2026-01-02T03:04:05.001000'],
    ['2026-12-31T23:59:59.999Z', '2026-12-31T23:59:59.999000'],
  ])('prints %s as %s', (iso, expected) => {
    expect(pythonUtcIsoformat(Date.parse(iso))).toBe(expected);
  });
});
