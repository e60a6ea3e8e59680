import { compactVerify, errors as joseErrors } from 'jose';
import { z } from 'zod';
import { payloadDigest } from './canonical-json.js';
import { checkIssuer, checkTenant, checkTimes } from './checks.js';
import { ApprovalError } from './errors.js';
import { isKeyValidAt, MAX_KID_LENGTH } from './keys.js';
import { parseStrictJson } from './strict-json.js';
import type { ApprovalRequest, ResolvedOptions, VerifiedApproval } from './types.js';
import { MOCK_ISSUER_PREFIX } from './types.js';

export const V1_APPROVAL_TYP = 'openexec-approval+jwt';
export const V1_ALLOWED_ALG = 'EdDSA';

const MAX_STRING = 256;
/**
 * The most uses one approval may allow: the stores count uses in a 32-bit INTEGER column
 * (PostgreSQL's is signed 32-bit), so a larger `max` is malformed here on every backend rather
 * than a database error on one.
 */
export const MAX_APPROVAL_USES = 2_147_483_647;
const text = z.string().min(1).max(MAX_STRING);
const epochSeconds = z.int().min(0);

/** v1 claims (SPEC §3.1). Unknown claims are ignored; every listed claim is strictly typed. */
const claimsSchema = z.object({
  iss: text,
  aud: text,
  jti: text,
  iat: epochSeconds,
  nbf: epochSeconds,
  exp: epochSeconds,
  act: text,
  pdg: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  non: text.optional(),
  max: z.int().min(1).max(MAX_APPROVAL_USES).optional(),
  sub: text.optional(),
});

function malformed(message: string, cause?: unknown): ApprovalError {
  return new ApprovalError('ERR_APPROVAL_MALFORMED', `Malformed approval: ${message}`, { cause });
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Strict base64url: alphabet only, no padding, and canonical (unused trailing bits zero). */
function decodeSegment(segment: string, what: string): Buffer {
  if (segment === '' || !BASE64URL.test(segment)) throw malformed(`${what} is not base64url`);
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) throw malformed(`${what} is not canonical base64url`);
  return bytes;
}

/** Decodes a segment as UTF-8 JSON object text; duplicate member names are refused. */
function decodeJsonObject(segment: string, what: string): Record<string, unknown> {
  const bytes = decodeSegment(segment, what);
  let value: unknown;
  try {
    value = parseStrictJson(utf8.decode(bytes));
  } catch (cause) {
    throw malformed(`${what} is not valid JSON or has duplicate member names`, cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(`${what} is not an object`);
  return value as Record<string, unknown>;
}

/**
 * Verifies a v1 compact JWS approval. Order (first failure wins):
 *  1. size and shape: at most maxTokenBytes, three dot-separated segments       MALFORMED
 *  2. protected header decodes to a JSON object without duplicates               MALFORMED
 *  3. header alg is exactly "EdDSA" (decided before any key is touched)          ALG_NOT_ALLOWED
 *  4. header typ, kid, no crit; claims and signature segments decode             MALFORMED
 *  5. kid names a configured key                                                 UNKNOWN_KEY
 *  6. that key is inside its validity window at `now`                            KEY_NOT_VALID
 *  7. Ed25519 signature (jose, algorithms pinned to EdDSA)                       SIGNATURE_INVALID
 *  -- nothing below is read before the signature is verified --
 *  8. claims: JSON object, no duplicates, types per schema                       MALFORMED
 *  9. iss not a mock issuer unless allowed                                       ISSUER_NOT_ALLOWED
 * 10. exp / nbf / iat / lifetime (see checkTimes)           EXPIRED, NOT_YET_VALID, LIFETIME_TOO_LONG
 * 11. aud === tenant                                                             AUDIENCE_MISMATCH
 * 12. act === request.action                                                     ACTION_MISMATCH
 * 13. pdg === payloadDigest(request.payload)                                     PAYLOAD_MISMATCH
 * 14. non, when present, === request.nonce                                       NONCE_MISMATCH
 */
export async function verifyV1(
  token: string,
  request: ApprovalRequest,
  opts: ResolvedOptions,
): Promise<VerifiedApproval> {
  // 1. Length in UTF-16 units is a lower bound of the UTF-8 size: cheap rejection first.
  if (token.length > opts.maxTokenBytes || Buffer.byteLength(token, 'utf8') > opts.maxTokenBytes) {
    throw malformed(`token is larger than ${opts.maxTokenBytes} bytes`);
  }
  const segments = token.split('.');
  if (segments.length !== 3) throw malformed('expected a compact JWS with three segments');
  const [headerSeg = '', claimsSeg = '', signatureSeg = ''] = segments;

  // 2-4. Protected header, parsed by us: jose is never handed a token whose alg we did not pick.
  const header = decodeJsonObject(headerSeg, 'header');
  if (typeof header.alg !== 'string') throw malformed('header alg is missing');
  if (header.alg !== V1_ALLOWED_ALG) {
    throw new ApprovalError('ERR_APPROVAL_ALG_NOT_ALLOWED', 'Algorithm not allowed: only EdDSA is accepted');
  }
  if (header.typ !== V1_APPROVAL_TYP) throw malformed(`header typ must be "${V1_APPROVAL_TYP}"`);
  if (header.crit !== undefined) throw malformed('header crit is not supported');
  if (header.b64 !== undefined) throw malformed('header b64 is not supported');
  const kid = header.kid;
  if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH)
    throw malformed('header kid is missing');
  decodeSegment(claimsSeg, 'claims');
  if (decodeSegment(signatureSeg, 'signature').length !== 64) throw malformed('signature is not 64 bytes');

  // 5-6. Key by kid.
  const key = opts.keys.findKey(kid);
  if (key === undefined) throw new ApprovalError('ERR_APPROVAL_UNKNOWN_KEY', 'Unknown signing key');
  if (!isKeyValidAt(key, opts.nowSeconds)) {
    throw new ApprovalError('ERR_APPROVAL_KEY_NOT_VALID', 'Signing key is not valid at this time');
  }

  // 7. Signature.
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, key.publicKey, { algorithms: [V1_ALLOWED_ALG] }));
  } catch (cause) {
    if (cause instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new ApprovalError(
        'ERR_APPROVAL_SIGNATURE_INVALID',
        'Invalid signature: approval artifact is not authentic',
      );
    }
    if (cause instanceof joseErrors.JOSEError) throw malformed('token rejected by the JWS parser', cause);
    throw cause;
  }

  // 8. Claims, now authenticated. Parse the verified bytes, not a second decoding of the token.
  let claimsObject: unknown;
  try {
    claimsObject = parseStrictJson(utf8.decode(payloadBytes));
  } catch (cause) {
    throw malformed('claims are not valid JSON or have duplicate member names', cause);
  }
  if (typeof claimsObject !== 'object' || claimsObject === null || Array.isArray(claimsObject)) {
    throw malformed('claims are not an object');
  }
  const parsed = claimsSchema.safeParse(claimsObject);
  if (!parsed.success) {
    const names = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '?')))].join(', ');
    throw malformed(`claim(s) missing or invalid: ${names}`, parsed.error);
  }
  const claims = parsed.data;

  // 9-14.
  checkIssuer(claims.iss, opts, MOCK_ISSUER_PREFIX);
  checkTimes({ iat: claims.iat, nbf: claims.nbf, exp: claims.exp }, opts);
  checkTenant(claims.aud, opts);
  if (claims.act !== request.action) {
    throw new ApprovalError(
      'ERR_APPROVAL_ACTION_MISMATCH',
      'Action mismatch: approval is for a different action',
    );
  }
  let digest: string;
  try {
    digest = payloadDigest(request.payload);
  } catch (cause) {
    throw new ApprovalError('ERR_APPROVAL_PAYLOAD_MISMATCH', 'Payload hash mismatch: payload is not I-JSON', {
      cause,
    });
  }
  if (digest !== claims.pdg) {
    throw new ApprovalError(
      'ERR_APPROVAL_PAYLOAD_MISMATCH',
      'Payload hash mismatch: approval does not match this payload',
    );
  }
  if (claims.non !== undefined && claims.non !== request.nonce) {
    throw new ApprovalError(
      'ERR_APPROVAL_NONCE_MISMATCH',
      'Nonce mismatch: approval is bound to another nonce',
    );
  }

  return {
    format: 'v1',
    approvalId: claims.jti,
    issuer: claims.iss,
    kid,
    tenant: claims.aud,
    nonce: claims.non ?? null,
    maxUses: claims.max ?? 1,
    subject: claims.sub ?? null,
    issuedAt: claims.iat,
    notBefore: claims.nbf,
    expiresAt: claims.exp,
    payloadDigest: claims.pdg,
  };
}
