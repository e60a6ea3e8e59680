import { canonicalJson } from './canonical-json.js';
import { base64urlDecode, base64urlEncode, hexEncode, utf8 } from './encoding.js';
import { ReceiptError } from './errors.js';
import { sha256 } from './sha256.js';

/** An Ed25519 public JWK (RFC 8037). `nbf`/`exp` (epoch seconds) bound when the key may sign. */
export interface Jwk {
  kty: string;
  crv: string;
  x: string;
  kid?: string;
  alg?: string;
  use?: string;
  /** The key signs nothing dated before this instant (epoch seconds). */
  nbf?: number;
  /** The key signs nothing dated at or after this instant (epoch seconds). */
  exp?: number;
  /**
   * The one receipt chain this key signs (OpenExec's published key set names it): a receipt
   * or checkpoint of another chain signed by this key is refused. Without it, any chain.
   */
  chain?: string;
  [member: string]: unknown;
}

export interface Jwks {
  keys: Jwk[];
}

/** Key lookup passed in by the caller instead of a JWKS: kid -> public JWK, or undefined. */
export type KeyLookup = (kid: string) => Jwk | undefined;
export type KeySource = Jwks | KeyLookup;

// A type alias (not an interface) so that it is assignable to Jwk's index signature.
export type PublicJwk = {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
};

/** A key ready for verification. */
export interface VerificationKey {
  kid: string;
  publicKey: Uint8Array;
  /** Validity window in epoch milliseconds; null = unbounded. */
  notBefore: number | null;
  expires: number | null;
  /** The only chain the key may sign; null = any. */
  chain: string | null;
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 key: the `kid` signers use. */
export function jwkThumbprint(jwk: { kty: string; crv: string; x: string }): string {
  // RFC 7638 §3.2: the required members only, lexicographic order, no whitespace = RFC 8785.
  return base64urlEncode(sha256(utf8(canonicalJson({ crv: jwk.crv, kty: jwk.kty, x: jwk.x }))));
}

// y-coordinates (little-endian, sign bit cleared) of the eight points of small order. With such
// a "public key" the signature (R = identity, S = 0) verifies for every message in both
// node:crypto and tweetnacl, so anyone could forge receipts: refuse the key outright.
const SMALL_ORDER_Y = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
];
// p = 2^255 - 19, little-endian.
const FIELD_P = 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';

/** True for a weak or non-canonical Ed25519 public key encoding (small order, or y >= p). */
export function isWeakPublicKey(publicKey: Uint8Array): boolean {
  const y = Uint8Array.from(publicKey);
  y[31] = y[31]! & 0x7f;
  const hex = hexEncode(y);
  if (SMALL_ORDER_Y.includes(hex)) return true;
  // y >= p: compare little-endian from the most significant byte.
  for (let i = 31; i >= 0; i--) {
    const a = y[i]!;
    const b = Number.parseInt(FIELD_P.slice(i * 2, i * 2 + 2), 16);
    if (a !== b) return a > b;
  }
  return true; // y == p
}

function invalid(message: string): ReceiptError {
  return new ReceiptError({ code: 'ERR_JWKS_INVALID', message });
}

/** Validates one public JWK; throws ReceiptError ERR_JWKS_INVALID. */
export function importJwk(jwk: unknown, where = 'key'): VerificationKey {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    throw invalid(`${where}: not a JSON object`);
  const k = jwk as Record<string, unknown>;
  if (k.kty !== 'OKP' || k.crv !== 'Ed25519')
    throw invalid(`${where}: only kty "OKP" with crv "Ed25519" is supported`);
  // A published key set must never carry the private half; refuse rather than use it.
  if (Object.hasOwn(k, 'd')) throw invalid(`${where}: contains private key material ("d")`);
  const publicKey = typeof k.x === 'string' ? base64urlDecode(k.x) : null;
  if (publicKey === null || publicKey.length !== 32)
    throw invalid(`${where}: "x" must be 32 bytes, base64url`);
  if (isWeakPublicKey(publicKey))
    throw invalid(`${where}: "x" is a weak (small-order or non-canonical) Ed25519 key`);
  if (k.alg !== undefined && k.alg !== 'EdDSA' && k.alg !== 'Ed25519')
    throw invalid(`${where}: "alg" must be EdDSA`);
  if (k.use !== undefined && k.use !== 'sig') throw invalid(`${where}: "use" must be "sig"`);
  if (k.kid !== undefined && (typeof k.kid !== 'string' || k.kid === '')) {
    throw invalid(`${where}: "kid" must be a non-empty string`);
  }
  for (const member of ['nbf', 'exp'] as const) {
    if (k[member] !== undefined && (typeof k[member] !== 'number' || !Number.isFinite(k[member]))) {
      throw invalid(`${where}: "${member}" must be a number of seconds since the epoch`);
    }
  }
  if (k.chain !== undefined && (typeof k.chain !== 'string' || k.chain === '')) {
    throw invalid(`${where}: "chain" must be a non-empty string`);
  }
  const nbf = k.nbf as number | undefined;
  const exp = k.exp as number | undefined;
  if (nbf !== undefined && exp !== undefined && exp <= nbf)
    throw invalid(`${where}: "exp" must be after "nbf"`);
  return {
    kid: (k.kid as string | undefined) ?? jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: k.x as string }),
    publicKey,
    notBefore: nbf === undefined ? null : nbf * 1000,
    expires: exp === undefined ? null : exp * 1000,
    chain: (k.chain as string | undefined) ?? null,
  };
}

function importJwks(jwks: Jwks): Map<string, VerificationKey> {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys)) {
    throw invalid('key set must be a JWKS: {"keys": [...]}');
  }
  const byKid = new Map<string, VerificationKey>();
  jwks.keys.forEach((jwk, i) => {
    const key = importJwk(jwk, `keys[${i}]`);
    if (byKid.has(key.kid)) throw invalid(`keys[${i}]: duplicate kid "${key.kid}"`);
    byKid.set(key.kid, key);
  });
  return byKid;
}

/** Turns a JWKS or lookup function into kid -> key. A bad JWKS throws ERR_JWKS_INVALID here, once. */
export function resolveKeySource(source: KeySource): (kid: string) => VerificationKey | undefined {
  if (typeof source === 'function') {
    const seen = new Map<string, VerificationKey | undefined>();
    return (kid) => {
      if (!seen.has(kid)) {
        const jwk = source(kid);
        seen.set(kid, jwk === undefined ? undefined : { ...importJwk(jwk, `key "${kid}"`), kid });
      }
      return seen.get(kid);
    };
  }
  const byKid = importJwks(source);
  return (kid) => byKid.get(kid);
}
