import type { KeyObject } from 'node:crypto';
import { createHash, createPublicKey } from 'node:crypto';
import { isWeakOrInvalidPublicKey } from './ed25519-point.js';
import { parseStrictJson } from './strict-json.js';

/** One approver verification key. `notBefore` / `expiresAt` are epoch seconds (optional window). */
export interface ApprovalKey {
  kid: string;
  publicKey: KeyObject;
  notBefore?: number;
  expiresAt?: number;
}

/** An immutable set of approver keys, looked up by `kid`. */
export interface KeySet {
  readonly size: number;
  readonly kids: readonly string[];
  findKey(kid: string): ApprovalKey | undefined;
  keys(): readonly ApprovalKey[];
}

export interface KeySetInput {
  /** One or more PEM `PUBLIC KEY` (SPKI) blocks of Ed25519 keys. */
  pem?: string;
  /** A JWKS document (`{"keys":[...]}`) of OKP / Ed25519 public keys, each with a `kid`. */
  jwks?: string;
}

export const MAX_KID_LENGTH = 256;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** True when the key is usable at `nowSeconds` (no tolerance: key windows are operator-set). */
export function isKeyValidAt(key: ApprovalKey, nowSeconds: number): boolean {
  if (key.notBefore !== undefined && nowSeconds < key.notBefore) return false;
  if (key.expiresAt !== undefined && nowSeconds >= key.expiresAt) return false;
  return true;
}

/** RFC 7638 JWK thumbprint of an Ed25519 public key, computed synchronously (matches jose `calculateJwkThumbprint`). */
export function ed25519Thumbprint(x: string): string {
  // Members in lexicographic order, no whitespace: crv, kty, x.
  const json = `{"crv":"Ed25519","kty":"OKP","x":"${x}"}`;
  return createHash('sha256').update(json, 'utf8').digest('base64url');
}

function rawPublicKey(key: KeyObject): { x: string; raw: Buffer } {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') {
    throw new TypeError('key set: only Ed25519 public keys are accepted');
  }
  return { x: jwk.x, raw: Buffer.from(jwk.x, 'base64url') };
}

function vetPublicKey(key: KeyObject, where: string): string {
  if (key.type !== 'public') throw new TypeError(`key set: ${where} is not a public key`);
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `key set: ${where} is ${key.asymmetricKeyType ?? 'unknown'}, only Ed25519 is accepted`,
    );
  }
  const { x, raw } = rawPublicKey(key);
  if (isWeakOrInvalidPublicKey(raw)) {
    throw new TypeError(`key set: ${where} is not a valid Ed25519 public key (off-curve or small order)`);
  }
  return x;
}

function parsePem(pem: string): ApprovalKey[] {
  if (/PRIVATE KEY/.test(pem))
    throw new TypeError('key set: private keys are not accepted, give the public key');
  const out: ApprovalKey[] = [];
  let rest = pem;
  for (const match of pem.matchAll(PEM_BLOCK)) {
    const [block, label] = match;
    if (label !== 'PUBLIC KEY') {
      throw new TypeError(`key set: PEM block "${label}" is not accepted, give an SPKI "PUBLIC KEY"`);
    }
    rest = rest.replace(block, '');
    let key: KeyObject;
    try {
      key = createPublicKey({ key: block, format: 'pem' });
    } catch (cause) {
      throw new TypeError(`key set: PEM key #${out.length + 1} cannot be parsed`, { cause });
    }
    const x = vetPublicKey(key, `PEM key #${out.length + 1}`);
    out.push({ kid: ed25519Thumbprint(x), publicKey: key });
  }
  if (rest.trim() !== '') throw new TypeError('key set: PEM text contains data outside PUBLIC KEY blocks');
  if (out.length === 0) throw new TypeError('key set: PEM text contains no PUBLIC KEY block');
  return out;
}

function optionalEpoch(jwk: Record<string, unknown>, name: 'nbf' | 'exp', where: string): number | undefined {
  const value = jwk[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`key set: ${where} "${name}" must be a non-negative integer (epoch seconds)`);
  }
  return value;
}

function parseJwks(text: string): ApprovalKey[] {
  let doc: unknown;
  try {
    doc = parseStrictJson(text);
  } catch (cause) {
    throw new TypeError('key set: JWKS is not valid JSON (or has duplicate member names)', { cause });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new TypeError('key set: JWKS must be an object with a "keys" array');
  }
  const keys = (doc as Record<string, unknown>).keys;
  if (!Array.isArray(keys)) throw new TypeError('key set: JWKS must be an object with a "keys" array');
  return keys.map((entry: unknown, index): ApprovalKey => {
    const where = `JWKS key #${index + 1}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new TypeError(`key set: ${where} is not an object`);
    }
    const jwk = entry as Record<string, unknown>;
    if ('d' in jwk) throw new TypeError(`key set: ${where} is a private key; give only the public part`);
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') {
      throw new TypeError(`key set: ${where} must have kty "OKP" and crv "Ed25519"`);
    }
    if (typeof jwk.kid !== 'string' || jwk.kid === '' || jwk.kid.length > MAX_KID_LENGTH) {
      throw new TypeError(
        `key set: ${where} needs a non-empty string "kid" (at most ${MAX_KID_LENGTH} chars)`,
      );
    }
    if (typeof jwk.x !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jwk.x)) {
      throw new TypeError(`key set: ${where} "x" must be 32 bytes of base64url`);
    }
    if (jwk.use !== undefined && jwk.use !== 'sig')
      throw new TypeError(`key set: ${where} "use" must be "sig"`);
    if (jwk.alg !== undefined && jwk.alg !== 'EdDSA')
      throw new TypeError(`key set: ${where} "alg" must be "EdDSA"`);
    if (jwk.key_ops !== undefined && (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify'))) {
      throw new TypeError(`key set: ${where} "key_ops" must include "verify"`);
    }
    const notBefore = optionalEpoch(jwk, 'nbf', where);
    const expiresAt = optionalEpoch(jwk, 'exp', where);
    if (notBefore !== undefined && expiresAt !== undefined && expiresAt <= notBefore) {
      throw new TypeError(`key set: ${where} "exp" must be after "nbf"`);
    }
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
    } catch (cause) {
      throw new TypeError(`key set: ${where} cannot be imported`, { cause });
    }
    vetPublicKey(publicKey, where);
    const key: ApprovalKey = { kid: jwk.kid, publicKey };
    if (notBefore !== undefined) key.notBefore = notBefore;
    if (expiresAt !== undefined) key.expiresAt = expiresAt;
    return key;
  });
}

class FrozenKeySet implements KeySet {
  readonly size: number;
  readonly kids: readonly string[];
  readonly #byKid: Map<string, ApprovalKey>;
  readonly #keys: readonly ApprovalKey[];

  constructor(keys: readonly ApprovalKey[]) {
    this.#byKid = new Map();
    for (const key of keys) {
      if (this.#byKid.has(key.kid)) throw new TypeError(`key set: duplicate kid "${key.kid}"`);
      this.#byKid.set(key.kid, Object.freeze({ ...key }));
    }
    this.#keys = Object.freeze([...this.#byKid.values()]);
    this.kids = Object.freeze(this.#keys.map((k) => k.kid));
    this.size = this.#keys.length;
    Object.freeze(this);
  }

  findKey(kid: string): ApprovalKey | undefined {
    return this.#byKid.get(kid);
  }

  keys(): readonly ApprovalKey[] {
    return this.#keys;
  }
}

/**
 * Builds a {@link KeySet} from configuration text. Pure: no file or network access.
 * Throws `TypeError` naming the problem: private keys, non-Ed25519 keys, weak (small-order)
 * keys, a JWKS key without `kid`, duplicate `kid`s, or no key at all. A PEM key's `kid` is
 * its RFC 7638 JWK thumbprint.
 */
export function parseKeySet(input: KeySetInput): KeySet {
  if (typeof input !== 'object' || input === null) throw new TypeError('key set: expected { pem?, jwks? }');
  const { pem, jwks } = input;
  if (pem !== undefined && typeof pem !== 'string') throw new TypeError('key set: pem must be a string');
  if (jwks !== undefined && typeof jwks !== 'string') throw new TypeError('key set: jwks must be a string');
  const keys: ApprovalKey[] = [];
  if (pem !== undefined && pem.trim() !== '') keys.push(...parsePem(pem));
  if (jwks !== undefined && jwks.trim() !== '') keys.push(...parseJwks(jwks));
  if (keys.length === 0) throw new TypeError('key set: at least one public key is required');
  return new FrozenKeySet(keys);
}
