import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { CryptoBackend } from './backend.js';
import { base64urlEncode } from './encoding.js';

// Importing a raw key into OpenSSL costs more than verifying with it; a verifier sees few keys.
const KEY_CACHE_LIMIT = 256;
const keyCache = new Map<string, KeyObject | null>();

function importRawKey(publicKey: Uint8Array): KeyObject | null {
  const x = base64urlEncode(publicKey);
  const cached = keyCache.get(x);
  if (cached !== undefined) return cached;
  let key: KeyObject | null;
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  } catch {
    key = null;
  }
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
  keyCache.set(x, key);
  return key;
}

/** node:crypto (OpenSSL) implementation: the default in Node. */
export const nodeCryptoBackend: CryptoBackend = Object.freeze({
  name: 'node',
  sha256(data: Uint8Array): Uint8Array {
    return new Uint8Array(createHash('sha256').update(data).digest());
  },
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const key = importRawKey(publicKey);
    if (key === null) return false;
    try {
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  },
});
