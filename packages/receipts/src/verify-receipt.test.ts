import { describe, expect, it } from 'vitest';
import { receiptHash, tweetnaclBackend, verifyReceipt } from './index.js';
import { buildReceiptCases } from './test-support/cases.js';
import { makeChain, newSigner } from './test-support/chain.js';

const cases = buildReceiptCases();

describe('verifyReceipt', () => {
  it.each(cases)('answers $expected for $name', ({ receipt, keys, expected }) => {
    const result = verifyReceipt(receipt, keys);
    expect(result.problems.map((p) => p.code)).toEqual(expected);
    expect(result.valid).toBe(expected.length === 0);
  });

  it('returns the parsed receipt and its hash', () => {
    const { receipts, jwks } = makeChain(1);
    expect(verifyReceipt(JSON.stringify(receipts[0]), jwks)).toEqual({
      valid: true,
      problems: [],
      receipt: receipts[0],
      hash: receiptHash(receipts[0]!),
    });
  });

  describe('when the signer key is outside its validity window', () => {
    it('rejects with ERR_RECEIPT_KEY_NOT_VALID naming the seq, key and dates', () => {
      const { receipts, signer } = makeChain(1);
      const exp = Date.parse(receipts[0]!.created_at) / 1000 - 60;
      const [problem] = verifyReceipt(receipts[0], { keys: [{ ...signer.publicJwk, exp }] }).problems;
      expect(problem).toEqual({
        seq: 1,
        field: 'created_at',
        code: 'ERR_RECEIPT_KEY_NOT_VALID',
        message: `seq 1: created_at 2025-01-01T00:00:01.000Z is after key "${signer.kid}" expired (exp 2024-12-31T23:59:01.000Z)`,
      });
    });
  });

  describe('when keys come from a lookup function', () => {
    it('asks for the signer kid and verifies with the returned JWK', () => {
      const { receipts, signer } = makeChain(1);
      const asked: string[] = [];
      const result = verifyReceipt(receipts[0], (kid) => {
        asked.push(kid);
        return kid === signer.kid ? signer.publicJwk : undefined;
      });
      expect(result.valid).toBe(true);
      expect(asked).toEqual([signer.kid]);
    });

    it('treats undefined as an unknown key', () => {
      const { receipts } = makeChain(1);
      expect(verifyReceipt(receipts[0], () => undefined).problems.map((p) => p.code)).toEqual([
        'ERR_RECEIPT_UNKNOWN_KEY',
      ]);
    });
  });

  describe('when the key set is unusable', () => {
    const signer = newSigner();
    const { receipts } = makeChain(1, { signer });
    const x = signer.publicJwk.x;
    const identity = Buffer.alloc(32);
    identity[0] = 1;

    it.each([
      ['not a JWKS', { keys: 'none' }, 'key set must be a JWKS'],
      ['a private key', { keys: [{ ...signer.publicJwk, d: x }] }, 'contains private key material ("d")'],
      ['an RSA key', { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] }, 'only kty "OKP" with crv "Ed25519"'],
      ['a short x', { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }] }, '"x" must be 32 bytes'],
      [
        'a small-order point (forgeable by anyone)',
        { keys: [{ kty: 'OKP', crv: 'Ed25519', x: identity.toString('base64url') }] },
        'weak (small-order or non-canonical)',
      ],
      ['another alg', { keys: [{ ...signer.publicJwk, alg: 'ES256' }] }, '"alg" must be EdDSA'],
      ['an encryption key', { keys: [{ ...signer.publicJwk, use: 'enc' }] }, '"use" must be "sig"'],
      [
        'an exp before nbf',
        { keys: [{ ...signer.publicJwk, nbf: 10, exp: 5 }] },
        '"exp" must be after "nbf"',
      ],
      ['a string nbf', { keys: [{ ...signer.publicJwk, nbf: '10' }] }, '"nbf" must be a number'],
      [
        'an empty chain',
        { keys: [{ ...signer.publicJwk, chain: '' }] },
        '"chain" must be a non-empty string',
      ],
      [
        'two keys with one kid',
        { keys: [signer.publicJwk, { ...newSigner().publicJwk, kid: signer.kid }] },
        'duplicate kid',
      ],
    ])('throws ERR_JWKS_INVALID for %s', (_name, keys, message) => {
      expect(() => verifyReceipt(receipts[0], keys as never)).toThrow(
        expect.objectContaining({ code: 'ERR_JWKS_INVALID', message: expect.stringContaining(message) }),
      );
    });

    it('derives the kid from the thumbprint when the JWK has none', () => {
      const { kid: _kid, ...withoutKid } = signer.publicJwk;
      expect(verifyReceipt(receipts[0], { keys: [withoutKid] }).valid).toBe(true);
    });
  });

  describe('with the tweetnacl backend', () => {
    it('verifies without node:crypto', () => {
      const { receipts, jwks } = makeChain(1);
      expect(verifyReceipt(receipts[0], jwks, { backend: tweetnaclBackend }).valid).toBe(true);
    });
  });
});
