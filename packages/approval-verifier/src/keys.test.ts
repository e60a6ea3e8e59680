import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { parseKeySet } from './keys.js';
import { jwksOf, newEd25519Key } from './test-support/fixtures.js';

const A = newEd25519Key('a');
const B = newEd25519Key('b');

describe('parseKeySet', () => {
  describe('with PEM input', () => {
    it('names a PEM key by its RFC 7638 thumbprint, as jose computes it', async () => {
      const set = parseKeySet({ pem: A.pem });
      const expected = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: A.x });
      expect(set.kids).toEqual([expected]);
      expect(set.findKey(expected)?.publicKey.asymmetricKeyType).toBe('ed25519');
    });

    it('accepts several PUBLIC KEY blocks (rotation)', () => {
      expect(parseKeySet({ pem: `${A.pem}\n${B.pem}` }).size).toBe(2);
    });

    it('throws TypeError for a private key, even one Node could derive a public key from', () => {
      const pem = A.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      expect(() => parseKeySet({ pem })).toThrow(/private keys are not accepted/);
    });

    it('throws TypeError for an RSA or P-256 public key', () => {
      for (const type of ['rsa', 'ec'] as const) {
        const { publicKey } =
          type === 'rsa'
            ? generateKeyPairSync('rsa', { modulusLength: 1024 })
            : generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
        expect(() => parseKeySet({ pem })).toThrow(/only Ed25519/);
      }
    });

    it('throws TypeError for other PEM labels and stray text', () => {
      const cert = A.pem.replaceAll('PUBLIC KEY', 'CERTIFICATE');
      expect(() => parseKeySet({ pem: cert })).toThrow(TypeError);
      expect(() => parseKeySet({ pem: `${A.pem}garbage` })).toThrow(/outside PUBLIC KEY/);
      expect(() => parseKeySet({ pem: 'not a pem' })).toThrow(TypeError);
    });

    it('throws TypeError for a corrupted PEM body', () => {
      const broken = A.pem.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!!!!!!!!!');
      expect(() => parseKeySet({ pem: broken })).toThrow(TypeError);
    });
  });

  describe('with JWKS input', () => {
    it('keeps kid and the optional nbf/exp window', () => {
      const set = parseKeySet({ jwks: jwksOf([{ ...A, nbf: 100, exp: 200 }, B]) });
      expect(set.kids).toEqual(['a', 'b']);
      expect(set.findKey('a')).toMatchObject({ kid: 'a', notBefore: 100, expiresAt: 200 });
      expect(set.findKey('b')).not.toHaveProperty('notBefore');
      expect(set.findKey('c')).toBeUndefined();
    });

    it.each([
      ['a private key (d)', { kty: 'OKP', crv: 'Ed25519', kid: 'k', x: A.x, d: A.x }],
      ['a P-256 key', { kty: 'EC', crv: 'P-256', kid: 'k', x: A.x, y: A.x }],
      ['an X25519 key', { kty: 'OKP', crv: 'X25519', kid: 'k', x: A.x }],
      ['a missing kid', { kty: 'OKP', crv: 'Ed25519', x: A.x }],
      ['an empty kid', { kty: 'OKP', crv: 'Ed25519', kid: '', x: A.x }],
      ['a short x', { kty: 'OKP', crv: 'Ed25519', kid: 'k', x: 'AAAA' }],
      ['use "enc"', { kty: 'OKP', crv: 'Ed25519', kid: 'k', x: A.x, use: 'enc' }],
      ['alg "ES256"', { kty: 'OKP', crv: 'Ed25519', kid: 'k', x: A.x, alg: 'ES256' }],
      ['a fractional exp', { kty: 'OKP', crv: 'Ed25519', kid: 'k', x: A.x, exp: 1.5 }],
      ['exp before nbf', { kty: 'OKP', crv: 'Ed25519', kid: 'k', x: A.x, nbf: 10, exp: 5 }],
      [
        'the identity point (small order)',
        { kty: 'OKP', crv: 'Ed25519', kid: 'k', x: `AQ${'A'.repeat(41)}` },
      ],
    ])('throws TypeError for %s', (_label, jwk) => {
      expect(() => parseKeySet({ jwks: JSON.stringify({ keys: [jwk] }) })).toThrow(TypeError);
    });

    it('throws TypeError for text that is not a JWKS', () => {
      expect(() => parseKeySet({ jwks: '{' })).toThrow(TypeError);
      expect(() => parseKeySet({ jwks: '[]' })).toThrow(TypeError);
      expect(() => parseKeySet({ jwks: '{"keys":{}}' })).toThrow(TypeError);
      expect(() => parseKeySet({ jwks: '{"keys":[],"keys":[]}' })).toThrow(/duplicate/);
    });
  });

  describe('with duplicate or missing keys', () => {
    it('throws TypeError for a duplicate kid', () => {
      expect(() => parseKeySet({ jwks: jwksOf([A, { ...B, kid: 'a' }]) })).toThrow(/duplicate kid/);
    });

    it('throws TypeError when a PEM key and a JWKS key share a kid', () => {
      const kid = parseKeySet({ pem: A.pem }).kids[0] ?? '';
      expect(() => parseKeySet({ pem: A.pem, jwks: jwksOf([{ ...B, kid }]) })).toThrow(/duplicate kid/);
    });

    it.each([{}, { pem: '' }, { jwks: '{"keys":[]}' }, { pem: '  ', jwks: '' }])(
      'throws TypeError when no key is given (%j)',
      (input) => {
        expect(() => parseKeySet(input)).toThrow(/at least one/);
      },
    );
  });

  describe('the returned KeySet', () => {
    it('is immutable', () => {
      const set = parseKeySet({ jwks: jwksOf([A]) });
      expect(Object.isFrozen(set)).toBe(true);
      expect(Object.isFrozen(set.keys())).toBe(true);
      expect(Object.isFrozen(set.findKey('a'))).toBe(true);
      expect(() => (set.kids as string[]).push('x')).toThrow(TypeError);
    });
  });
});
