import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockError } from './errors.js';

/** The public half of an approver key as a JWK, named by `kid`. */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
}

/** An Ed25519 approver key pair. `kid` is the RFC 7638 thumbprint of the public key. */
export interface ApproverKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicPem: string;
  readonly jwk: PublicJwk;
}

/** File names `keygen` writes into its output directory. */
export const KEY_FILE_NAMES = {
  privateKey: 'approver.key.pem',
  publicKey: 'approver.pub.pem',
  jwks: 'approver.jwks.json',
} as const;

/**
 * RFC 7638 JWK thumbprint of an Ed25519 public key: base64url SHA-256 of the required members
 * in lexicographic order, no whitespace. It is the `kid` openexec-api gives a key configured as
 * a single PEM (`CLAWSHIELD_PUBLIC_KEY`), so tokens minted with it verify either way.
 */
export function ed25519Thumbprint(x: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
}

function fromKeyObjects(privateKey: KeyObject, publicKey: KeyObject): ApproverKey {
  const x = String(publicKey.export({ format: 'jwk' }).x);
  const kid = ed25519Thumbprint(x);
  return Object.freeze({
    kid,
    privateKey,
    publicKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    jwk: Object.freeze({ kty: 'OKP', crv: 'Ed25519', x, kid }),
  });
}

export function generateApproverKey(): ApproverKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return fromKeyObjects(privateKey, publicKey);
}

/** Loads an Ed25519 private key (PKCS#8 PEM). Anything else is `ERR_MOCK_KEY`. */
export function approverKeyFromPem(pem: string): ApproverKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new MockError('ERR_MOCK_KEY', 'not a PEM private key', { cause: error });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new MockError(
      'ERR_MOCK_KEY',
      `expected an Ed25519 private key, got ${privateKey.asymmetricKeyType ?? 'unknown'}`,
    );
  }
  return fromKeyObjects(privateKey, createPublicKey(privateKey));
}

/** PKCS#8 PEM of the private key: what `keygen` writes (mode 0600). */
export function privateKeyPem(key: ApproverKey): string {
  return key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function jwksOf(...keys: ApproverKey[]): { keys: PublicJwk[] } {
  return { keys: keys.map((key) => ({ ...key.jwk })) };
}

export function readApproverKeyFile(path: string): ApproverKey {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new MockError('ERR_MOCK_KEY', `cannot read key file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    return approverKeyFromPem(pem);
  } catch (error) {
    if (error instanceof MockError) throw new MockError(error.code, `${path}: ${error.message}`);
    throw error;
  }
}

export interface KeyFiles {
  privateKey: string;
  publicKey: string;
  jwks: string;
}

/**
 * Writes the private key (mode 0600, directory 0700 when created), the public PEM and a
 * one-key JWKS into `dir`. Never overwrites an existing private key unless `force`: losing a
 * key silently would invalidate whatever was configured with its public half.
 */
export function writeKeyFiles(dir: string, key: ApproverKey, options: { force?: boolean } = {}): KeyFiles {
  const files: KeyFiles = {
    privateKey: join(dir, KEY_FILE_NAMES.privateKey),
    publicKey: join(dir, KEY_FILE_NAMES.publicKey),
    jwks: join(dir, KEY_FILE_NAMES.jwks),
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    // Replaced by a new file, never written into the old one: an old file's looser mode (or a
    // symlink at its path) would hold the new key until a later chmod.
    if (options.force) rmSync(files.privateKey, { force: true });
    writeFileSync(files.privateKey, privateKeyPem(key), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new MockError(
        'ERR_MOCK_KEY',
        `${files.privateKey} already exists; use --force to replace it (its public key stops working)`,
      );
    }
    throw new MockError('ERR_MOCK_KEY', `cannot write ${files.privateKey}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // `mode` is filtered by the umask; the key is the owner's only, whatever the umask.
  chmodSync(files.privateKey, 0o600);
  writeFileSync(files.publicKey, key.publicPem, { mode: 0o644 });
  writeFileSync(files.jwks, `${JSON.stringify(jwksOf(key), null, 2)}\n`, { mode: 0o644 });
  return files;
}
