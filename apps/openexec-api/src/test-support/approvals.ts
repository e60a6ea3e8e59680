// Approval minting for the API's own tests, from public functions of @openexec/approval-verifier
// and node:crypto (so tests can also forge what a real approver never would).
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { legacyActionHash, legacySigningMessage, payloadDigest } from '@openexec/approval-verifier';

export interface ApproverKey {
  kid: string;
  privateKey: KeyObject;
  publicPem: string;
  jwk: { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string };
}

/** Without a kid, the key is named by its RFC 7638 thumbprint: the kid a single PEM key gets. */
export function newApproverKey(kid?: string): ApproverKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = String(publicKey.export({ format: 'jwk' }).x);
  kid ??= createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
  return {
    kid,
    privateKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    jwk: { kty: 'OKP', crv: 'Ed25519', x, kid },
  };
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export interface V1Options {
  tenant: string;
  action: string;
  payload: unknown;
  nonce?: string;
  max?: number;
  iss?: string;
  ttlSeconds?: number;
  issuedAtOffsetSeconds?: number;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
}

export function mintV1(key: ApproverKey, options: V1Options): string {
  const iat = Math.floor(Date.now() / 1000) + (options.issuedAtOffsetSeconds ?? 0);
  const header = { alg: 'EdDSA', typ: 'openexec-approval+jwt', kid: key.kid, ...options.header };
  const claims = {
    iss: options.iss ?? 'approver-1',
    aud: options.tenant,
    jti: randomUUID(),
    iat,
    nbf: iat,
    exp: iat + (options.ttlSeconds ?? 300),
    act: options.action,
    pdg: payloadDigest(options.payload),
    ...(options.nonce === undefined ? {} : { non: options.nonce }),
    ...(options.max === undefined ? {} : { max: options.max }),
    ...options.claims,
  };
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`;
}

/** Python `datetime.utcnow().isoformat()` form. */
function naiveUtc(date: Date): string {
  return `${date.toISOString().slice(0, -1)}000`;
}

export function mintLegacy(
  key: ApproverKey,
  options: { tenant: string; action: string; payload: unknown; ttlSeconds?: number },
): Record<string, string> {
  const now = new Date();
  const fields = {
    approval_id: randomUUID(),
    tenant_id: options.tenant,
    action_hash: legacyActionHash(options.action, options.payload),
    issued_at: naiveUtc(now),
    expires_at: naiveUtc(new Date(now.getTime() + (options.ttlSeconds ?? 300) * 1000)),
  };
  return {
    ...fields,
    signature: sign(null, legacySigningMessage(fields), key.privateKey).toString('base64'),
  };
}
