import {
  chmodSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseKeySet } from '@openexec/approval-verifier';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  approverKeyFromPem,
  ed25519Thumbprint,
  generateApproverKey,
  jwksOf,
  readApproverKeyFile,
  writeKeyFiles,
} from './keys.js';
import { TEST_KID, TEST_PRIVATE_KEY_PEM, TEST_PUBLIC_KEY_PEM, TEST_X } from './test-support/fixtures.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'clawshield-mock-keys-'));

describe('approver keys', () => {
  describe('the kid', () => {
    it('is the RFC 7638 thumbprint jose computes', async () => {
      const key = generateApproverKey();
      expect(key.kid).toBe(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: key.jwk.x }));
      expect(ed25519Thumbprint(TEST_X)).toBe(TEST_KID);
    });

    it('is the kid openexec-api gives the same key configured as a single PEM', () => {
      const key = approverKeyFromPem(TEST_PRIVATE_KEY_PEM);
      expect(parseKeySet({ pem: key.publicPem }).kids).toEqual([key.kid]);
      expect(parseKeySet({ jwks: JSON.stringify(jwksOf(key)) }).kids).toEqual([key.kid]);
    });
  });

  describe('approverKeyFromPem', () => {
    it('derives the public key and JWK of a fixed private key', () => {
      const key = approverKeyFromPem(TEST_PRIVATE_KEY_PEM);
      expect(key.publicPem).toBe(TEST_PUBLIC_KEY_PEM);
      expect(key.jwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: TEST_X, kid: TEST_KID });
    });

    it('refuses a public key with ERR_MOCK_KEY', () => {
      expect(() => approverKeyFromPem(TEST_PUBLIC_KEY_PEM)).toThrow(
        expect.objectContaining({ code: 'ERR_MOCK_KEY', message: 'not a PEM private key' }),
      );
    });

    it('refuses a non-Ed25519 private key with ERR_MOCK_KEY naming its type', async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString();
      expect(() => approverKeyFromPem(pem)).toThrow(
        expect.objectContaining({ code: 'ERR_MOCK_KEY', message: 'expected an Ed25519 private key, got ec' }),
      );
    });
  });

  describe('writeKeyFiles', () => {
    it('writes the private key with mode 0600, the public PEM and a JWKS with the kid', () => {
      const dir = join(tmp(), 'nested', 'keys');
      const key = generateApproverKey();
      const files = writeKeyFiles(dir, key);
      expect(statSync(files.privateKey).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(readFileSync(files.publicKey, 'utf8')).toBe(key.publicPem);
      expect(JSON.parse(readFileSync(files.jwks, 'utf8'))).toEqual({ keys: [key.jwk] });
      expect(readApproverKeyFile(files.privateKey).kid).toBe(key.kid);
    });

    it('refuses to overwrite an existing private key without force', () => {
      const dir = tmp();
      const first = writeKeyFiles(dir, generateApproverKey());
      expect(() => writeKeyFiles(dir, generateApproverKey())).toThrow(
        expect.objectContaining({
          code: 'ERR_MOCK_KEY',
          message: `${first.privateKey} already exists; use --force to replace it (its public key stops working)`,
        }),
      );
    });

    it('replaces the key with force and still leaves mode 0600', () => {
      const dir = tmp();
      const first = writeKeyFiles(dir, generateApproverKey());
      writeFileSync(first.privateKey, 'x', { mode: 0o644 });
      const second = generateApproverKey();
      writeKeyFiles(dir, second, { force: true });
      expect(statSync(first.privateKey).mode & 0o777).toBe(0o600);
      expect(readApproverKeyFile(first.privateKey).kid).toBe(second.kid);
    });
  });

  describe('with force', () => {
    it('writes the new key into a new file, never through the old one or a symlink at its path', () => {
      const dir = tmp();
      const first = writeKeyFiles(dir, generateApproverKey());
      chmodSync(first.privateKey, 0o644);
      const second = generateApproverKey();
      writeKeyFiles(dir, second, { force: true });
      expect(statSync(first.privateKey).mode & 0o777).toBe(0o600);

      const elsewhere = join(tmp(), 'not-a-key');
      writeFileSync(elsewhere, 'untouched', { mode: 0o644 });
      rmSync(first.privateKey);
      symlinkSync(elsewhere, first.privateKey);
      writeKeyFiles(dir, generateApproverKey(), { force: true });
      expect(readFileSync(elsewhere, 'utf8')).toBe('untouched');
      expect(lstatSync(first.privateKey).isSymbolicLink()).toBe(false);
      expect(statSync(first.privateKey).mode & 0o777).toBe(0o600);
    });
  });

  describe('readApproverKeyFile', () => {
    it('names the file it cannot read', () => {
      expect(() => readApproverKeyFile('/nonexistent/key.pem')).toThrow(
        expect.objectContaining({
          code: 'ERR_MOCK_KEY',
          message: expect.stringMatching(/^cannot read key file \/nonexistent\/key\.pem: ENOENT/),
        }),
      );
    });
  });
});
