import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ApprovalErrorCode } from './errors.js';
import { parseKeySet } from './keys.js';
import { legacySigningMessage, parseNaiveUtcIso } from './legacy.js';
import type { LegacyArtifact } from './test-support/fixtures.js';
import {
  keySetOf,
  mintLegacy,
  NOW,
  NOW_S,
  newEd25519Key,
  options,
  pythonIso,
  REQUEST,
  signLegacy,
  TENANT,
} from './test-support/fixtures.js';
import type { ApprovalRequest } from './types.js';
import { verifyApproval } from './verify.js';

const KEY = newEd25519Key('legacy-key');
const KEYS = keySetOf(KEY);
const OPTS = options(KEYS);

function rejectsWith(
  artifact: unknown,
  code: ApprovalErrorCode,
  request: ApprovalRequest = REQUEST,
  opts = OPTS,
) {
  return expect(verifyApproval(artifact, request, opts)).rejects.toMatchObject({
    name: 'ApprovalError',
    code,
  });
}

/** Re-signs after editing, so only the edited property is wrong. */
function resigned(edit: Partial<LegacyArtifact>, base = mintLegacy(KEY.privateKey)): LegacyArtifact {
  const { signature: _old, ...fields } = { ...base, ...edit };
  return { ...fields, signature: signLegacy(fields, KEY.privateKey) };
}

describe('verifyApproval (legacy ClawShield artifact)', () => {
  describe('when the artifact is valid', () => {
    it('accepts timestamps without microseconds', async () => {
      const artifact = mintLegacy(KEY.privateKey);
      expect(artifact.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
      await expect(verifyApproval(artifact, REQUEST, OPTS)).resolves.toEqual({
        format: 'legacy',
        approvalId: artifact.approval_id,
        issuer: 'clawshield',
        kid: KEY.kid,
        tenant: TENANT,
        nonce: null,
        maxUses: 1,
        subject: null,
        issuedAt: NOW_S - 10,
        notBefore: NOW_S - 10,
        expiresAt: NOW_S + 290,
        payloadDigest: artifact.action_hash,
      });
    });

    it('accepts timestamps with microseconds and rounds the window outward', async () => {
      const artifact = mintLegacy(KEY.privateKey, { micros: 250_000 });
      expect(artifact.issued_at).toMatch(/\.250000$/);
      await expect(verifyApproval(artifact, REQUEST, OPTS)).resolves.toMatchObject({
        issuedAt: NOW_S - 10,
        expiresAt: NOW_S + 291,
      });
    });

    it('accepts an artifact minted by the Python service (CPython json + cryptography, non-ASCII payload)', async () => {
      // Produced by the Python mint_approval_artifact logic with the Ed25519 seed bytes 00..1f.
      const pem =
        '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n-----END PUBLIC KEY-----\n';
      const artifact = {
        approval_id: '3f2a9c1e-7b4d-4e8a-9f00-5d6c7b8a9e01',
        tenant_id: 'tenant-001',
        action_hash: 'e418c87d7491dafc5a48168211d4cc4114017c9fb5994641841fd6fa2de49c6b',
        issued_at: '2026-05-10T11:59:50.123456',
        expires_at: '2026-05-10T12:04:50.123456',
        signature: '3q5xm7KQRRKFoEAqlzU0XAEkaGvnGK/t6q2b0cKjYDSkdCUFuoKQKll9qZ+E+MOTqw18Ru10XDm0GJLNxaVaBw==',
      };
      const request = { action: 'echo', payload: { msg: 'h\u00e9llo \u{1F600}', n: 1 }, nonce: 'n-1' };
      const keys = parseKeySet({ pem });
      await expect(verifyApproval(artifact, request, options(keys))).resolves.toMatchObject({
        format: 'legacy',
        kid: keys.kids[0],
        approvalId: artifact.approval_id,
      });
      await rejectsWith(
        artifact,
        'ERR_APPROVAL_PAYLOAD_MISMATCH',
        { ...request, payload: { msg: 'hello', n: 1 } },
        options(keys),
      );
    });

    it('tries every key valid now and reports the one that verified', async () => {
      const retired = { ...newEd25519Key('retired'), exp: NOW_S - 1 };
      const other = newEd25519Key('other');
      const result = await verifyApproval(
        mintLegacy(KEY.privateKey),
        REQUEST,
        options(keySetOf(retired, other, KEY)),
      );
      expect(result.kid).toBe(KEY.kid);
    });

    it('accepts a string issued_by and reports it as the issuer', async () => {
      const artifact = { ...mintLegacy(KEY.privateKey), issued_by: 'clawshield-prod' };
      await expect(verifyApproval(artifact, REQUEST, OPTS)).resolves.toMatchObject({
        issuer: 'clawshield-prod',
      });
    });
  });

  describe('when one field is tampered with', () => {
    it.each<[string, Partial<LegacyArtifact>]>([
      ['approval_id', { approval_id: randomUUID() }],
      ['tenant_id', { tenant_id: 'tenant-002' }],
      ['action_hash', { action_hash: 'a'.repeat(64) }],
      ['issued_at', { issued_at: pythonIso(NOW_S - 11) }],
      ['expires_at', { expires_at: pythonIso(NOW_S + 291) }],
    ])('rejects a changed %s with ERR_APPROVAL_SIGNATURE_INVALID', async (_field, edit) => {
      await rejectsWith({ ...mintLegacy(KEY.privateKey), ...edit }, 'ERR_APPROVAL_SIGNATURE_INVALID');
    });

    it('rejects a changed signature with ERR_APPROVAL_SIGNATURE_INVALID ("Invalid signature")', async () => {
      const artifact = mintLegacy(KEY.privateKey);
      const sig = Buffer.from(artifact.signature, 'base64');
      sig[0] = (sig[0] ?? 0) ^ 0x80;
      await expect(
        verifyApproval({ ...artifact, signature: sig.toString('base64') }, REQUEST, OPTS),
      ).rejects.toMatchObject({
        code: 'ERR_APPROVAL_SIGNATURE_INVALID',
        message: expect.stringContaining('Invalid signature'),
      });
    });

    it('rejects an artifact signed by another key with "Invalid signature"', async () => {
      await expect(
        verifyApproval(mintLegacy(newEd25519Key().privateKey), REQUEST, OPTS),
      ).rejects.toMatchObject({
        code: 'ERR_APPROVAL_SIGNATURE_INVALID',
        message: expect.stringContaining('Invalid signature'),
      });
    });
  });

  describe('when the request differs from what was approved', () => {
    it('rejects a changed payload with ERR_APPROVAL_PAYLOAD_MISMATCH ("hash mismatch")', async () => {
      await expect(
        verifyApproval(mintLegacy(KEY.privateKey), { ...REQUEST, payload: { msg: 'tampered', n: 1 } }, OPTS),
      ).rejects.toMatchObject({
        code: 'ERR_APPROVAL_PAYLOAD_MISMATCH',
        message: expect.stringContaining('hash mismatch'),
      });
    });

    it('rejects a changed action with ERR_APPROVAL_PAYLOAD_MISMATCH (the action is inside the hash)', async () => {
      await rejectsWith(mintLegacy(KEY.privateKey), 'ERR_APPROVAL_PAYLOAD_MISMATCH', {
        ...REQUEST,
        action: 'add',
      });
    });

    it('accepts the payload in another key order (sort_keys)', async () => {
      const request = { ...REQUEST, payload: { n: 1, msg: 'hello' } };
      await expect(verifyApproval(mintLegacy(KEY.privateKey), request, OPTS)).resolves.toMatchObject({
        format: 'legacy',
      });
    });

    it('rejects another tenant with ERR_APPROVAL_AUDIENCE_MISMATCH ("Tenant mismatch")', async () => {
      await expect(
        verifyApproval(mintLegacy(KEY.privateKey), REQUEST, options(KEYS, { tenant: 'wrong-tenant' })),
      ).rejects.toMatchObject({
        code: 'ERR_APPROVAL_AUDIENCE_MISMATCH',
        message: expect.stringContaining('Tenant mismatch'),
      });
    });
  });

  describe('when the concatenation boundary is shifted between approval_id and tenant_id', () => {
    it('rejects a shift that turns tenant "bigtenant-001" into "tenant-001" with ERR_APPROVAL_MALFORMED', async () => {
      const signed = mintLegacy(KEY.privateKey, { tenant: 'bigtenant-001' });
      const shifted = { ...signed, approval_id: `${signed.approval_id}big`, tenant_id: 'tenant-001' };
      // The signed bytes are identical: the signature alone cannot tell the two apart.
      expect(legacySigningMessage(shifted).equals(legacySigningMessage(signed))).toBe(true);
      await rejectsWith(shifted, 'ERR_APPROVAL_MALFORMED');
    });

    it('rejects a shift that moves characters out of tenant_id', async () => {
      const signed = mintLegacy(KEY.privateKey);
      const shifted = { ...signed, approval_id: `${signed.approval_id}t`, tenant_id: 'enant-001' };
      expect(legacySigningMessage(shifted).equals(legacySigningMessage(signed))).toBe(true);
      await rejectsWith(shifted, 'ERR_APPROVAL_MALFORMED');
    });
  });

  describe('when the timestamps are wrong', () => {
    it.each([undefined, null, ''])('rejects expires_at %j with ERR_APPROVAL_MALFORMED', async (expires) => {
      const artifact: Record<string, unknown> = { ...mintLegacy(KEY.privateKey), expires_at: expires };
      if (expires === undefined) delete artifact.expires_at;
      await expect(verifyApproval(artifact, REQUEST, OPTS)).rejects.toMatchObject({
        code: 'ERR_APPROVAL_MALFORMED',
        message: expect.stringContaining('expires_at'),
      });
    });

    it.each([
      ['a Z suffix', `${pythonIso(NOW_S + 290)}Z`],
      ['a +00:00 suffix', `${pythonIso(NOW_S + 290)}+00:00`],
      ['a space separator', pythonIso(NOW_S + 290).replace('T', ' ')],
      ['milliseconds', `${pythonIso(NOW_S + 290)}.123`],
      ['an impossible date', '2026-02-30T00:00:00'],
      ['hour 24', '2026-05-10T24:00:00'],
      ['garbage', 'tomorrow'],
    ])('rejects expires_at with %s with ERR_APPROVAL_MALFORMED', async (_label, expiresAt) => {
      await rejectsWith(resigned({ expires_at: expiresAt }), 'ERR_APPROVAL_MALFORMED');
    });

    it('rejects an expired artifact with ERR_APPROVAL_EXPIRED ("expired"), like a negative TTL', async () => {
      const artifact = mintLegacy(KEY.privateKey, { issuedAt: NOW_S, ttlSeconds: -60 });
      await expect(verifyApproval(artifact, REQUEST, OPTS)).rejects.toMatchObject({
        code: 'ERR_APPROVAL_EXPIRED',
        message: expect.stringContaining('expired'),
      });
    });

    it('accepts an artifact expired less than the clock tolerance ago', async () => {
      const artifact = mintLegacy(KEY.privateKey, { issuedAt: NOW_S - 300, ttlSeconds: 271 });
      await expect(verifyApproval(artifact, REQUEST, OPTS)).resolves.toMatchObject({ format: 'legacy' });
    });

    it('rejects issued_at in the future beyond tolerance with ERR_APPROVAL_NOT_YET_VALID', async () => {
      await rejectsWith(mintLegacy(KEY.privateKey, { issuedAt: NOW_S + 31 }), 'ERR_APPROVAL_NOT_YET_VALID');
    });

    it('rejects a lifetime over the maximum with ERR_APPROVAL_LIFETIME_TOO_LONG', async () => {
      await rejectsWith(mintLegacy(KEY.privateKey, { ttlSeconds: 3601 }), 'ERR_APPROVAL_LIFETIME_TOO_LONG');
    });
  });

  describe('when the shape is wrong', () => {
    it.each<[string, Record<string, unknown>]>([
      ['approval_id not a UUID', { approval_id: 'approval-1' }],
      ['approval_id a number', { approval_id: 7 }],
      ['tenant_id too long', { tenant_id: 't'.repeat(300) }],
      ['tenant_id missing', { tenant_id: undefined }],
      ['action_hash uppercase hex', { action_hash: 'A'.repeat(64) }],
      ['action_hash too short', { action_hash: 'a'.repeat(63) }],
      ['signature not base64', { signature: '!'.repeat(88) }],
      ['signature of 63 bytes', { signature: Buffer.alloc(63).toString('base64') }],
      ['signature as base64url', { signature: Buffer.alloc(64, 0xff).toString('base64url') }],
      ['an unknown field', { scope: 'all' }],
      ['issued_by not a string', { issued_by: 1 }],
      // Unsigned, and copied into the receipt: a lone surrogate there could not be signed.
      ['issued_by with a lone surrogate', { issued_by: 'clawshield\ud800' }],
    ])('rejects %s with ERR_APPROVAL_MALFORMED', async (_label, edit) => {
      await rejectsWith({ ...mintLegacy(KEY.privateKey), ...edit }, 'ERR_APPROVAL_MALFORMED');
    });
  });

  describe('when no key can verify it', () => {
    it('rejects with ERR_APPROVAL_KEY_NOT_VALID when every key is outside its window', async () => {
      const keys = keySetOf({ ...KEY, exp: NOW_S - 1 });
      await rejectsWith(mintLegacy(KEY.privateKey), 'ERR_APPROVAL_KEY_NOT_VALID', REQUEST, options(keys));
    });
  });

  describe('when issued_by names a mock issuer', () => {
    const artifact = () => ({ ...mintLegacy(KEY.privateKey), issued_by: 'mock:dev' });

    it('rejects by default with ERR_APPROVAL_ISSUER_NOT_ALLOWED', async () => {
      await rejectsWith(artifact(), 'ERR_APPROVAL_ISSUER_NOT_ALLOWED');
    });

    it('accepts with allowMockIssuers', async () => {
      const result = await verifyApproval(artifact(), REQUEST, options(KEYS, { allowMockIssuers: true }));
      expect(result.issuer).toBe('mock:dev');
    });
  });
});

describe('parseNaiveUtcIso', () => {
  it('reads Python isoformat() output as UTC', () => {
    expect(parseNaiveUtcIso('2026-05-10T12:00:00')).toBe(NOW.getTime() / 1000);
    expect(parseNaiveUtcIso('2026-05-10T12:00:00.500000')).toBe(NOW.getTime() / 1000 + 0.5);
    expect(parseNaiveUtcIso('2024-02-29T00:00:00')).toBe(Date.UTC(2024, 1, 29) / 1000);
    expect(parseNaiveUtcIso('2023-02-29T00:00:00')).toBeUndefined();
  });
});
