/**
 * Test-only key and token minting. Not exported from the package, excluded from the build.
 * Tokens are signed by hand (not with jose's SignJWT) so tests can forge anything: duplicate
 * header names, other algorithms, malformed claims.
 */
import type { KeyObject } from 'node:crypto';
import { createHmac, sign as cryptoSign, generateKeyPairSync, randomUUID } from 'node:crypto';
import { payloadDigest } from '../canonical-json.js';
import type { KeySet } from '../keys.js';
import { parseKeySet } from '../keys.js';
import { legacyActionHash, legacySigningMessage } from '../legacy.js';
import type { ApprovalRequest, VerifyApprovalOptions } from '../types.js';

export const NOW = new Date('2026-05-10T12:00:00.000Z');
export const NOW_S = Math.floor(NOW.getTime() / 1000);
export const TENANT = 'tenant-001';

export interface TestKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK members (kty, crv, x). */
  x: string;
  pem: string;
}

export function newEd25519Key(kid = `k-${randomUUID().slice(0, 8)}`): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  return {
    kid,
    privateKey,
    publicKey,
    x: String(jwk.x),
    pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

export function jwksOf(keys: readonly (TestKey & { nbf?: number; exp?: number })[]): string {
  return JSON.stringify({
    keys: keys.map((k) => ({
      kty: 'OKP',
      crv: 'Ed25519',
      x: k.x,
      kid: k.kid,
      ...(k.nbf === undefined ? {} : { nbf: k.nbf }),
      ...(k.exp === undefined ? {} : { exp: k.exp }),
    })),
  });
}

export function keySetOf(...keys: (TestKey & { nbf?: number; exp?: number })[]): KeySet {
  return parseKeySet({ jwks: jwksOf(keys) });
}

export function options(keys: KeySet, extra: Partial<VerifyApprovalOptions> = {}): VerifyApprovalOptions {
  return { now: NOW, tenant: TENANT, keys, ...extra };
}

export const b64url = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');

/** Signs header/claims JSON text as given (byte-exact, duplicates allowed) with Ed25519. */
export function signCompactRaw(headerJson: string, claimsJson: string, privateKey: KeyObject): string {
  const input = `${b64url(headerJson)}.${b64url(claimsJson)}`;
  return `${input}.${b64url(cryptoSign(null, Buffer.from(input), privateKey))}`;
}

/** HS256 over the signing input, keyed with arbitrary bytes (e.g. the public key). */
export function signHs256Raw(headerJson: string, claimsJson: string, secret: Uint8Array | string): string {
  const input = `${b64url(headerJson)}.${b64url(claimsJson)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export interface V1Claims {
  iss?: unknown;
  aud?: unknown;
  jti?: unknown;
  iat?: unknown;
  nbf?: unknown;
  exp?: unknown;
  act?: unknown;
  pdg?: unknown;
  non?: unknown;
  max?: unknown;
  sub?: unknown;
  [extra: string]: unknown;
}

export const PAYLOAD = { msg: 'hello', n: 1 };
export const REQUEST: ApprovalRequest = { action: 'echo', payload: PAYLOAD, nonce: 'nonce-1' };

export function claimsFor(request: ApprovalRequest = REQUEST, overrides: V1Claims = {}): V1Claims {
  return {
    iss: 'approver-1',
    aud: TENANT,
    jti: randomUUID(),
    iat: NOW_S - 10,
    nbf: NOW_S - 10,
    exp: NOW_S + 290,
    act: request.action,
    pdg: payloadDigest(request.payload),
    ...overrides,
  };
}

export function mintV1(
  key: Pick<TestKey, 'kid' | 'privateKey'>,
  claims: V1Claims = claimsFor(),
  header: Record<string, unknown> = {},
): string {
  const h = { alg: 'EdDSA', typ: 'openexec-approval+jwt', kid: key.kid, ...header };
  // Drop members explicitly set to undefined so tests can remove defaults.
  const clean = (o: Record<string, unknown>) =>
    JSON.stringify(o, (_k, v) => (v === undefined ? undefined : v));
  return signCompactRaw(clean(h), clean(claims), key.privateKey);
}

/** Python `datetime.isoformat()` of a naive UTC datetime: microseconds only when non-zero. */
export function pythonIso(epochSeconds: number, micros = 0): string {
  const base = new Date(epochSeconds * 1000).toISOString().slice(0, 19);
  return micros === 0 ? base : `${base}.${String(micros).padStart(6, '0')}`;
}

export interface LegacyArtifact {
  approval_id: string;
  tenant_id: string;
  action_hash: string;
  issued_at: string;
  expires_at: string;
  signature: string;
  issued_by?: string;
}

/** Mirrors the Python `mint_approval_artifact` (clawshield_client.py). */
export function mintLegacy(
  privateKey: KeyObject,
  opts: {
    request?: ApprovalRequest;
    tenant?: string;
    issuedAt?: number;
    ttlSeconds?: number;
    micros?: number;
    approvalId?: string;
  } = {},
): LegacyArtifact {
  const request = opts.request ?? REQUEST;
  const issuedAt = opts.issuedAt ?? NOW_S - 10;
  const fields = {
    approval_id: opts.approvalId ?? randomUUID(),
    tenant_id: opts.tenant ?? TENANT,
    action_hash: legacyActionHash(request.action, request.payload),
    issued_at: pythonIso(issuedAt, opts.micros ?? 0),
    expires_at: pythonIso(issuedAt + (opts.ttlSeconds ?? 300), opts.micros ?? 0),
  };
  return { ...fields, signature: signLegacy(fields, privateKey) };
}

export function signLegacy(fields: Omit<LegacyArtifact, 'signature'>, privateKey: KeyObject): string {
  return cryptoSign(null, legacySigningMessage(fields), privateKey).toString('base64');
}
