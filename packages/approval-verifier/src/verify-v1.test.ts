import { sign as cryptoSign, generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { payloadDigest } from './canonical-json.js';
import type { ApprovalErrorCode } from './errors.js';
import { ApprovalError } from './errors.js';
import { parseKeySet } from './keys.js';
import {
  b64url,
  claimsFor,
  keySetOf,
  mintV1,
  NOW_S,
  newEd25519Key,
  options,
  PAYLOAD,
  REQUEST,
  signCompactRaw,
  signHs256Raw,
  TENANT,
} from './test-support/fixtures.js';
import type { ApprovalRequest } from './types.js';
import { MAX_APPROVAL_USES } from './v1.js';
import { verifyApproval } from './verify.js';

const KEY = newEd25519Key('approver-key-1');
const KEYS = keySetOf(KEY);
const OPTS = options(KEYS);
const HEADER = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ alg: 'EdDSA', typ: 'openexec-approval+jwt', kid: KEY.kid, ...extra });

function rejectsWith(
  token: unknown,
  code: ApprovalErrorCode,
  request: ApprovalRequest = REQUEST,
  opts = OPTS,
) {
  return expect(verifyApproval(token, request, opts)).rejects.toMatchObject({ name: 'ApprovalError', code });
}

describe('verifyApproval (v1 compact JWS)', () => {
  describe('when the token is valid', () => {
    it('resolves with the verified claims', async () => {
      const claims = claimsFor(REQUEST, { sub: 'agent-7' });
      const result = await verifyApproval(mintV1(KEY, claims), REQUEST, OPTS);
      expect(result).toEqual({
        format: 'v1',
        approvalId: claims.jti,
        issuer: 'approver-1',
        kid: KEY.kid,
        tenant: TENANT,
        nonce: null,
        maxUses: 1,
        subject: 'agent-7',
        issuedAt: NOW_S - 10,
        notBefore: NOW_S - 10,
        expiresAt: NOW_S + 290,
        payloadDigest: payloadDigest(REQUEST.payload),
      });
    });

    it('accepts a payload that differs only in key order', async () => {
      const token = mintV1(KEY, claimsFor({ ...REQUEST, payload: { n: 1, msg: 'hello' } }));
      await expect(verifyApproval(token, REQUEST, OPTS)).resolves.toMatchObject({ format: 'v1' });
    });

    it('picks the key by kid among several (rotation)', async () => {
      const next = newEd25519Key('approver-key-2');
      const result = await verifyApproval(mintV1(next), REQUEST, options(keySetOf(KEY, next)));
      expect(result.kid).toBe('approver-key-2');
    });

    it('ignores unknown extra claims', async () => {
      await expect(
        verifyApproval(mintV1(KEY, claimsFor(REQUEST, { note: 'x' })), REQUEST, OPTS),
      ).resolves.toMatchObject({ format: 'v1' });
    });
  });

  describe('when the artifact is absent or not a token', () => {
    it.each([undefined, null])('rejects %s with ERR_APPROVAL_MISSING', async (artifact) => {
      await rejectsWith(artifact, 'ERR_APPROVAL_MISSING');
    });

    it.each([
      ['a number', 42],
      ['an array', [mintV1(KEY)]],
      ['a boolean', true],
      ['an object without approval_id', { token: 'x' }],
      ['an empty string', ''],
      ['a two-segment string', 'abc.def'],
      ['a four-segment string', 'a.b.c.d'],
      ['a Date', new Date()],
    ])('rejects %s with ERR_APPROVAL_MALFORMED', async (_label, artifact) => {
      await rejectsWith(artifact, 'ERR_APPROVAL_MALFORMED');
    });
  });

  describe('when the algorithm is not EdDSA', () => {
    const claims = JSON.stringify(claimsFor());

    it('rejects alg "none" with ERR_APPROVAL_ALG_NOT_ALLOWED', async () => {
      const token = `${b64url(HEADER({ alg: 'none' }))}.${b64url(claims)}.`;
      await rejectsWith(token, 'ERR_APPROVAL_ALG_NOT_ALLOWED');
    });

    it('rejects HS256 keyed with the raw public key bytes with ERR_APPROVAL_ALG_NOT_ALLOWED', async () => {
      const token = signHs256Raw(HEADER({ alg: 'HS256' }), claims, Buffer.from(KEY.x, 'base64url'));
      await rejectsWith(token, 'ERR_APPROVAL_ALG_NOT_ALLOWED');
    });

    it('rejects HS256 keyed with the public key PEM with ERR_APPROVAL_ALG_NOT_ALLOWED', async () => {
      await rejectsWith(
        signHs256Raw(HEADER({ alg: 'HS256' }), claims, KEY.pem),
        'ERR_APPROVAL_ALG_NOT_ALLOWED',
      );
    });

    it('rejects an ES256 token with ERR_APPROVAL_ALG_NOT_ALLOWED', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const input = `${b64url(HEADER({ alg: 'ES256' }))}.${b64url(claims)}`;
      const sig = cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      await rejectsWith(`${input}.${b64url(sig)}`, 'ERR_APPROVAL_ALG_NOT_ALLOWED');
    });

    it('rejects an RS256 token with ERR_APPROVAL_ALG_NOT_ALLOWED', async () => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const input = `${b64url(HEADER({ alg: 'RS256' }))}.${b64url(claims)}`;
      const sig = cryptoSign('sha256', Buffer.from(input), privateKey);
      await rejectsWith(`${input}.${b64url(sig)}`, 'ERR_APPROVAL_ALG_NOT_ALLOWED');
    });

    it.each(['Ed25519', 'eddsa', 'ES256K', ''])(
      'rejects alg %j (only the exact "EdDSA") with ERR_APPROVAL_ALG_NOT_ALLOWED',
      async (alg) => {
        await rejectsWith(
          signCompactRaw(HEADER({ alg }), claims, KEY.privateKey),
          'ERR_APPROVAL_ALG_NOT_ALLOWED',
        );
      },
    );

    it('rejects a missing alg with ERR_APPROVAL_MALFORMED', async () => {
      await rejectsWith(
        signCompactRaw(HEADER({ alg: undefined }), claims, KEY.privateKey),
        'ERR_APPROVAL_MALFORMED',
      );
    });
  });

  describe('when the key does not fit', () => {
    it('rejects a token signed by another key under a known kid with ERR_APPROVAL_SIGNATURE_INVALID', async () => {
      const intruder = newEd25519Key(KEY.kid);
      await rejectsWith(mintV1(intruder), 'ERR_APPROVAL_SIGNATURE_INVALID');
    });

    it('rejects an unknown kid with ERR_APPROVAL_UNKNOWN_KEY', async () => {
      await rejectsWith(mintV1(newEd25519Key('someone-else')), 'ERR_APPROVAL_UNKNOWN_KEY');
    });

    it('rejects a key past its exp with ERR_APPROVAL_KEY_NOT_VALID', async () => {
      const keys = keySetOf({ ...KEY, nbf: NOW_S - 1000, exp: NOW_S });
      await rejectsWith(mintV1(KEY), 'ERR_APPROVAL_KEY_NOT_VALID', REQUEST, options(keys));
    });

    it('rejects a key before its nbf with ERR_APPROVAL_KEY_NOT_VALID', async () => {
      const keys = keySetOf({ ...KEY, nbf: NOW_S + 60 });
      await rejectsWith(mintV1(KEY), 'ERR_APPROVAL_KEY_NOT_VALID', REQUEST, options(keys));
    });

    it('accepts a key inside its window', async () => {
      const keys = keySetOf({ ...KEY, nbf: NOW_S - 60, exp: NOW_S + 60 });
      await expect(verifyApproval(mintV1(KEY), REQUEST, options(keys))).resolves.toMatchObject({
        kid: KEY.kid,
      });
    });
  });

  describe('when one character of the token is changed', () => {
    it('never verifies (property, 200 runs)', async () => {
      const token = mintV1(KEY);
      const allowed = new Set([
        'ERR_APPROVAL_SIGNATURE_INVALID',
        'ERR_APPROVAL_MALFORMED',
        'ERR_APPROVAL_ALG_NOT_ALLOWED',
        'ERR_APPROVAL_UNKNOWN_KEY',
      ]);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: token.length - 1 }),
          fc.integer({ min: 0, max: alphabet.length - 1 }),
          async (pos, pick) => {
            let replacement = alphabet[pick] ?? 'A';
            if (replacement === token[pos]) replacement = replacement === 'A' ? 'B' : 'A';
            const mutated = token.slice(0, pos) + replacement + token.slice(pos + 1);
            const outcome = await verifyApproval(mutated, REQUEST, OPTS).then(
              () => 'VERIFIED',
              (e: unknown) => (e instanceof ApprovalError ? e.code : `unexpected ${String(e)}`),
            );
            expect(allowed.has(outcome), `position ${pos} -> ${outcome}`).toBe(true);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('rejects a flipped bit in the last signature byte with ERR_APPROVAL_SIGNATURE_INVALID', async () => {
      const [h, c, s = ''] = mintV1(KEY).split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[10] = (sig[10] ?? 0) ^ 1;
      await rejectsWith(`${h}.${c}.${b64url(sig)}`, 'ERR_APPROVAL_SIGNATURE_INVALID');
    });

    it('rejects a non-canonical base64url signature (unused trailing bits) with ERR_APPROVAL_MALFORMED', async () => {
      const token = mintV1(KEY);
      const last = token.at(-1) ?? 'A';
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const idx = alphabet.indexOf(last);
      const sibling = alphabet[(idx & ~0b1111) | ((idx + 1) & 0b1111)] ?? 'A';
      await rejectsWith(token.slice(0, -1) + sibling, 'ERR_APPROVAL_MALFORMED');
    });
  });

  describe('when the request differs from what was approved', () => {
    it('rejects a payload changed in one field with ERR_APPROVAL_PAYLOAD_MISMATCH', async () => {
      await rejectsWith(mintV1(KEY), 'ERR_APPROVAL_PAYLOAD_MISMATCH', {
        ...REQUEST,
        payload: { msg: 'hello', n: 2 },
      });
    });

    it('rejects a payload with an extra field with ERR_APPROVAL_PAYLOAD_MISMATCH', async () => {
      const payload = { ...PAYLOAD, extra: true };
      await rejectsWith(mintV1(KEY), 'ERR_APPROVAL_PAYLOAD_MISMATCH', { ...REQUEST, payload });
    });

    it('rejects a Unicode-equivalent but different string (NFC vs NFD) with ERR_APPROVAL_PAYLOAD_MISMATCH', async () => {
      const nfc = { ...REQUEST, payload: { name: 'caf\u00e9' } };
      const nfd = { ...REQUEST, payload: { name: 'cafe\u0301' } };
      expect(nfc.payload.name.normalize('NFD')).toBe(nfd.payload.name);
      await rejectsWith(mintV1(KEY, claimsFor(nfc)), 'ERR_APPROVAL_PAYLOAD_MISMATCH', nfd);
    });

    it('rejects a payload that is not I-JSON (lone surrogate) with ERR_APPROVAL_PAYLOAD_MISMATCH', async () => {
      await rejectsWith(mintV1(KEY), 'ERR_APPROVAL_PAYLOAD_MISMATCH', {
        ...REQUEST,
        payload: { msg: '\ud800' },
      });
    });

    it('rejects another action with ERR_APPROVAL_ACTION_MISMATCH', async () => {
      await rejectsWith(mintV1(KEY), 'ERR_APPROVAL_ACTION_MISMATCH', { ...REQUEST, action: 'add' });
    });

    it('rejects another tenant with ERR_APPROVAL_AUDIENCE_MISMATCH', async () => {
      await rejectsWith(
        mintV1(KEY, claimsFor(REQUEST, { aud: 'tenant-002' })),
        'ERR_APPROVAL_AUDIENCE_MISMATCH',
      );
    });

    it('rejects an aud array (a single string is required) with ERR_APPROVAL_MALFORMED', async () => {
      await rejectsWith(mintV1(KEY, claimsFor(REQUEST, { aud: [TENANT] })), 'ERR_APPROVAL_MALFORMED');
    });
  });

  describe('when the token binds a nonce', () => {
    it('accepts the bound nonce and reports it', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { non: REQUEST.nonce }));
      await expect(verifyApproval(token, REQUEST, OPTS)).resolves.toMatchObject({ nonce: REQUEST.nonce });
    });

    it('rejects another nonce with ERR_APPROVAL_NONCE_MISMATCH', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { non: 'nonce-other' }));
      await rejectsWith(token, 'ERR_APPROVAL_NONCE_MISMATCH');
    });
  });

  describe('when the token sets max', () => {
    it('defaults maxUses to 1', async () => {
      await expect(verifyApproval(mintV1(KEY), REQUEST, OPTS)).resolves.toMatchObject({ maxUses: 1 });
    });

    it('reports an explicit max', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { max: 5 }));
      await expect(verifyApproval(token, REQUEST, OPTS)).resolves.toMatchObject({ maxUses: 5 });
    });

    it('accepts the largest max the stores can count', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { max: MAX_APPROVAL_USES }));
      await expect(verifyApproval(token, REQUEST, OPTS)).resolves.toMatchObject({ maxUses: 2_147_483_647 });
    });

    it.each([0, -1, 1.5, '2', null, 2_147_483_648, Number.MAX_SAFE_INTEGER])(
      'rejects max %j with ERR_APPROVAL_MALFORMED',
      async (max) => {
        await rejectsWith(mintV1(KEY, claimsFor(REQUEST, { max })), 'ERR_APPROVAL_MALFORMED');
      },
    );
  });

  describe('when the token is expired', () => {
    it('rejects with ERR_APPROVAL_EXPIRED beyond the clock tolerance', async () => {
      await rejectsWith(mintV1(KEY, claimsFor(REQUEST, { exp: NOW_S - 30 })), 'ERR_APPROVAL_EXPIRED');
    });

    it('accepts within the clock tolerance', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { iat: NOW_S - 100, nbf: NOW_S - 100, exp: NOW_S - 29 }));
      await expect(verifyApproval(token, REQUEST, OPTS)).resolves.toMatchObject({ expiresAt: NOW_S - 29 });
    });

    it('honours clockToleranceSeconds: 0', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { exp: NOW_S }));
      await rejectsWith(token, 'ERR_APPROVAL_EXPIRED', REQUEST, options(KEYS, { clockToleranceSeconds: 0 }));
    });
  });

  describe('when the token is not yet valid', () => {
    it('rejects nbf in the future beyond tolerance with ERR_APPROVAL_NOT_YET_VALID', async () => {
      await rejectsWith(mintV1(KEY, claimsFor(REQUEST, { nbf: NOW_S + 31 })), 'ERR_APPROVAL_NOT_YET_VALID');
    });

    it('rejects iat in the future beyond tolerance with ERR_APPROVAL_NOT_YET_VALID', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { iat: NOW_S + 31, nbf: NOW_S }));
      await rejectsWith(token, 'ERR_APPROVAL_NOT_YET_VALID');
    });

    it('accepts nbf within the tolerance', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { iat: NOW_S + 30, nbf: NOW_S + 30 }));
      await expect(verifyApproval(token, REQUEST, OPTS)).resolves.toMatchObject({ notBefore: NOW_S + 30 });
    });
  });

  describe('when the lifetime is too long', () => {
    it('rejects exp - iat over 3600 s by default with ERR_APPROVAL_LIFETIME_TOO_LONG', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { iat: NOW_S - 10, exp: NOW_S - 10 + 3601 }));
      await rejectsWith(token, 'ERR_APPROVAL_LIFETIME_TOO_LONG');
    });

    it('accepts exactly the maximum', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { iat: NOW_S - 10, exp: NOW_S - 10 + 3600 }));
      await expect(verifyApproval(token, REQUEST, OPTS)).resolves.toMatchObject({ format: 'v1' });
    });

    it('honours maxLifetimeSeconds', async () => {
      const opts = options(KEYS, { maxLifetimeSeconds: 60 });
      await rejectsWith(mintV1(KEY), 'ERR_APPROVAL_LIFETIME_TOO_LONG', REQUEST, opts);
    });

    it('rejects exp before nbf (inside the tolerance band) with ERR_APPROVAL_MALFORMED', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { iat: NOW_S, nbf: NOW_S + 20, exp: NOW_S + 10 }));
      await rejectsWith(token, 'ERR_APPROVAL_MALFORMED');
    });
  });

  describe('when the issuer is a mock approver', () => {
    const token = () => mintV1(KEY, claimsFor(REQUEST, { iss: 'mock:clawshield-mock' }));

    it('rejects by default with ERR_APPROVAL_ISSUER_NOT_ALLOWED', async () => {
      await rejectsWith(token(), 'ERR_APPROVAL_ISSUER_NOT_ALLOWED');
    });

    it('accepts with allowMockIssuers', async () => {
      const result = await verifyApproval(token(), REQUEST, options(KEYS, { allowMockIssuers: true }));
      expect(result.issuer).toBe('mock:clawshield-mock');
    });
  });

  describe('when the token is oversized', () => {
    it('rejects more than 8192 bytes with ERR_APPROVAL_MALFORMED', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { pad: 'x'.repeat(7000) }));
      expect(token.length).toBeGreaterThan(8192);
      await rejectsWith(token, 'ERR_APPROVAL_MALFORMED');
    });

    it('counts UTF-8 bytes, not characters, against maxTokenBytes', async () => {
      const token = mintV1(KEY);
      const opts = options(KEYS, { maxTokenBytes: token.length });
      await expect(verifyApproval(token, REQUEST, opts)).resolves.toMatchObject({ format: 'v1' });
      const wide = `${token.slice(0, -1)}\u00e9`; // same length, one more byte
      await rejectsWith(wide, 'ERR_APPROVAL_MALFORMED', REQUEST, opts);
    });
  });

  describe('when the JSON has duplicate member names', () => {
    it('rejects duplicate claim names with ERR_APPROVAL_MALFORMED', async () => {
      const claims = JSON.stringify(claimsFor()).replace(/^\{/, '{"aud":"tenant-evil",');
      await rejectsWith(signCompactRaw(HEADER(), claims, KEY.privateKey), 'ERR_APPROVAL_MALFORMED');
    });

    it('rejects duplicate header names with ERR_APPROVAL_MALFORMED', async () => {
      const header = HEADER().replace(/^\{/, '{"kid":"other-key",');
      const token = signCompactRaw(header, JSON.stringify(claimsFor()), KEY.privateKey);
      await rejectsWith(token, 'ERR_APPROVAL_MALFORMED');
    });

    it('rejects a duplicate alg hiding "none" behind "EdDSA" with ERR_APPROVAL_MALFORMED', async () => {
      const header = HEADER().replace(/^\{/, '{"alg":"none",');
      await rejectsWith(
        signCompactRaw(header, JSON.stringify(claimsFor()), KEY.privateKey),
        'ERR_APPROVAL_MALFORMED',
      );
    });
  });

  describe('when the header is not an OpenExec approval header', () => {
    it.each([
      ['typ missing', { typ: undefined }],
      ['typ JWT', { typ: 'JWT' }],
      ['kid missing', { kid: undefined }],
      ['kid not a string', { kid: 7 }],
      ['crit present', { crit: ['exp'] }],
      ['b64 false', { b64: false }],
    ])('rejects %s with ERR_APPROVAL_MALFORMED', async (_label, header) => {
      await rejectsWith(mintV1(KEY, claimsFor(), header), 'ERR_APPROVAL_MALFORMED');
    });

    it('rejects a header that is not JSON with ERR_APPROVAL_MALFORMED', async () => {
      await rejectsWith(
        signCompactRaw('not json', JSON.stringify(claimsFor()), KEY.privateKey),
        'ERR_APPROVAL_MALFORMED',
      );
    });
  });

  describe('when a claim is missing or mistyped', () => {
    it.each(['iss', 'aud', 'jti', 'iat', 'nbf', 'exp', 'act', 'pdg'])(
      'rejects a token without %s with ERR_APPROVAL_MALFORMED',
      async (claim) => {
        const token = mintV1(KEY, claimsFor(REQUEST, { [claim]: undefined }));
        await expect(verifyApproval(token, REQUEST, OPTS)).rejects.toMatchObject({
          code: 'ERR_APPROVAL_MALFORMED',
          message: expect.stringContaining(claim),
        });
      },
    );

    it.each([
      ['exp as a string', { exp: String(NOW_S + 100) }],
      ['exp fractional', { exp: NOW_S + 100.5 }],
      ['iat negative', { iat: -1 }],
      ['pdg hex instead of base64url', { pdg: 'ab'.repeat(32) }],
      ['non as a number', { non: 1 }],
      ['sub as null', { sub: null }],
      ['iss empty', { iss: '' }],
      // Escaped by JSON.stringify; such an id could not be signed into a receipt after it ran.
      ['jti with a lone surrogate', { jti: 'a\ud800' }],
      ['iss with a lone surrogate', { iss: '\udc00' }],
    ])('rejects %s with ERR_APPROVAL_MALFORMED', async (_label, override) => {
      await rejectsWith(mintV1(KEY, claimsFor(REQUEST, override)), 'ERR_APPROVAL_MALFORMED');
    });

    it('rejects signed claims that are not a JSON object with ERR_APPROVAL_MALFORMED', async () => {
      await rejectsWith(signCompactRaw(HEADER(), '["iss"]', KEY.privateKey), 'ERR_APPROVAL_MALFORMED');
      await rejectsWith(signCompactRaw(HEADER(), '{"iss":', KEY.privateKey), 'ERR_APPROVAL_MALFORMED');
    });

    it('rejects claims that are not UTF-8 with ERR_APPROVAL_MALFORMED', async () => {
      const input = `${b64url(HEADER())}.${b64url(Buffer.from([0x7b, 0xff, 0x7d]))}`;
      const token = `${input}.${b64url(cryptoSign(null, Buffer.from(input), KEY.privateKey))}`;
      await rejectsWith(token, 'ERR_APPROVAL_MALFORMED');
    });
  });

  describe('when several checks would fail', () => {
    it('reports the signature before any claim (claims are not trusted unsigned)', async () => {
      const intruder = newEd25519Key(KEY.kid);
      const token = mintV1(intruder, claimsFor(REQUEST, { exp: NOW_S - 1000, aud: 'x', act: 'y' }));
      await rejectsWith(token, 'ERR_APPROVAL_SIGNATURE_INVALID');
    });

    it('reports expiry before audience, action, payload and nonce', async () => {
      const token = mintV1(KEY, claimsFor(REQUEST, { exp: NOW_S - 1000, aud: 'x', act: 'y', non: 'z' }));
      await rejectsWith(token, 'ERR_APPROVAL_EXPIRED', { action: 'a', payload: {}, nonce: 'n' });
    });

    it('reports audience, then action, then payload, then nonce', async () => {
      const all = claimsFor(REQUEST, { aud: 'x', act: 'y', non: 'z' });
      const other = { action: 'a', payload: { other: 1 }, nonce: 'n' };
      await rejectsWith(mintV1(KEY, all), 'ERR_APPROVAL_AUDIENCE_MISMATCH', other);
      await rejectsWith(mintV1(KEY, { ...all, aud: TENANT }), 'ERR_APPROVAL_ACTION_MISMATCH', other);
      await rejectsWith(mintV1(KEY, { ...all, aud: TENANT }), 'ERR_APPROVAL_PAYLOAD_MISMATCH', {
        ...other,
        action: 'y',
      });
      await rejectsWith(mintV1(KEY, { ...all, aud: TENANT, act: 'echo' }), 'ERR_APPROVAL_NONCE_MISMATCH', {
        ...REQUEST,
        nonce: 'n',
      });
    });
  });

  describe('when the caller misuses the API', () => {
    it('throws TypeError for an invalid now', async () => {
      await expect(
        verifyApproval(mintV1(KEY), REQUEST, options(KEYS, { now: new Date('x') })),
      ).rejects.toThrow(TypeError);
    });

    it('throws TypeError for a non-string action', async () => {
      const request = { ...REQUEST, action: 1 as unknown as string };
      await expect(verifyApproval(mintV1(KEY), request, OPTS)).rejects.toBeInstanceOf(TypeError);
    });

    it('throws TypeError for negative options', async () => {
      await expect(
        verifyApproval(mintV1(KEY), REQUEST, options(KEYS, { clockToleranceSeconds: -1 })),
      ).rejects.toBeInstanceOf(TypeError);
    });

    it('accepts a PEM-configured key under its RFC 7638 thumbprint kid', async () => {
      const keys = parseKeySet({ pem: KEY.pem });
      const kid = keys.kids[0] ?? '';
      const result = await verifyApproval(
        mintV1({ kid, privateKey: KEY.privateKey }),
        REQUEST,
        options(keys),
      );
      expect(result.kid).toBe(kid);
    });
  });
});
