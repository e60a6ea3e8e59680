import nacl from 'tweetnacl';
import { sha256 } from './sha256.js';

/**
 * The cryptography verification needs, behind one interface so that two independent
 * implementations can be swapped and compared: node:crypto (OpenSSL; fast, the default in
 * Node) and tweetnacl + a JavaScript SHA-256 (portable: browsers, edge runtimes).
 */
export interface CryptoBackend {
  readonly name: string;
  sha256(data: Uint8Array): Uint8Array;
  /**
   * Ed25519 verification with a 32-byte raw public key. Returns false, never throws, for any
   * malformed key or signature. Callers have already rejected non-canonical S (see verify.ts).
   */
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

export const tweetnaclBackend: CryptoBackend = Object.freeze({
  name: 'tweetnacl',
  sha256,
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return nacl.sign.detached.verify(message, signature, publicKey);
    } catch {
      return false;
    }
  },
});
