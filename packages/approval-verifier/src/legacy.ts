import { createHash, verify as cryptoVerify } from 'node:crypto';
import { checkIssuer, checkTenant, checkTimes } from './checks.js';
import { ApprovalError } from './errors.js';
import type { ApprovalKey } from './keys.js';
import { isKeyValidAt } from './keys.js';
import { pythonJsonDumps } from './python-json.js';
import type { ApprovalRequest, ResolvedOptions, VerifiedApproval } from './types.js';
import { MOCK_ISSUER_PREFIX } from './types.js';

/**
 * Legacy ClawShield approvals (SPEC §3.2), byte-compatible with the Python service:
 *   signature = base64(Ed25519(approval_id + tenant_id + action_hash + issued_at + expires_at))
 *   action_hash = hex(SHA-256(json.dumps({"action":..,"payload":..}, sort_keys=True, separators=(",",":"))))
 * Weaknesses of the format (README, SECURITY.md): no nonce binding, an ambiguous
 * concatenation, unsigned `issued_by`; single use is enforced by the store, not the artifact.
 */

export interface LegacySignedFields {
  approval_id: string;
  tenant_id: string;
  action_hash: string;
  issued_at: string;
  expires_at: string;
}

/** Issuer reported for a legacy artifact without `issued_by` (the field is not signed). */
export const LEGACY_DEFAULT_ISSUER = 'clawshield';

const LEGACY_FIELDS = new Set([
  'approval_id',
  'tenant_id',
  'action_hash',
  'issued_at',
  'expires_at',
  'signature',
  'issued_by',
]);
const MAX_FIELD = 256;
// The Python approver uses str(uuid.uuid4()). Requiring a UUID fixes approval_id at 36
// characters, which pins the otherwise ambiguous approval_id/tenant_id boundary.
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
const BASE64_SIG = /^[A-Za-z0-9+/]{86}==$/;
// datetime.utcnow().isoformat(): naive, microseconds only when non-zero. No zone suffix.
const NAIVE_ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{6}))?$/;

function malformed(message: string): ApprovalError {
  return new ApprovalError('ERR_APPROVAL_MALFORMED', `Malformed approval: ${message}`);
}

/** Parses a Python naive UTC isoformat() timestamp to epoch seconds (with microseconds); undefined if invalid. */
export function parseNaiveUtcIso(value: string): number | undefined {
  const m = NAIVE_ISO.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, micro] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return undefined; // e.g. 2023-02-30
  }
  return date.getTime() / 1000 + (micro === undefined ? 0 : Number(micro) / 1e6);
}

/** hex SHA-256 of Python `json.dumps({"action": action, "payload": payload}, sort_keys=True, separators=(",", ":"))`. */
export function legacyActionHash(action: string, payload: unknown): string {
  if (typeof action !== 'string') throw new TypeError('action must be a string');
  const json = pythonJsonDumps({ action, payload }, { sortKeys: true, separators: [',', ':'] });
  return createHash('sha256').update(json, 'utf8').digest('hex');
}

/** The signed bytes: the plain UTF-8 concatenation of the five fields, no separators. */
export function legacySigningMessage(a: LegacySignedFields): Buffer {
  const parts = [a.approval_id, a.tenant_id, a.action_hash, a.issued_at, a.expires_at];
  if (!parts.every((p) => typeof p === 'string'))
    throw new TypeError('all signed legacy fields must be strings');
  return Buffer.from(parts.join(''), 'utf8');
}

function stringField(record: Record<string, unknown>, name: string, max = MAX_FIELD): string {
  const value = record[name];
  if (value === undefined || value === null || value === '') throw malformed(`missing ${name}`);
  if (typeof value !== 'string') throw malformed(`${name} must be a string`);
  if (value.length > max) throw malformed(`${name} is too long`);
  return value;
}

/**
 * Verifies a legacy artifact. Order (first failure wins):
 *  1. shape: only known fields, all strings, bounded; approval_id a UUID; action_hash
 *     64 lowercase hex; timestamps naive ISO-8601 (expires_at required); signature
 *     base64 of 64 bytes                                                           MALFORMED
 *  2. some configured key is valid at `now`                                        KEY_NOT_VALID
 *  3. Ed25519 signature by one of those keys                                       SIGNATURE_INVALID
 *  -- nothing below is trusted before the signature is verified --
 *  4. issued_by not a mock issuer unless allowed (advisory: issued_by is unsigned) ISSUER_NOT_ALLOWED
 *  5. tenant_id === tenant ("Tenant mismatch")                                     AUDIENCE_MISMATCH
 *  6. expires_at / issued_at / lifetime (see checkTimes)    EXPIRED, NOT_YET_VALID, LIFETIME_TOO_LONG
 *  7. action_hash === legacyActionHash(request) ("Action hash mismatch")           PAYLOAD_MISMATCH
 */
export function verifyLegacy(
  artifact: Record<string, unknown>,
  request: ApprovalRequest,
  opts: ResolvedOptions,
): VerifiedApproval {
  // 1. Shape. Each field is read exactly once (no getter can change it between checks).
  for (const name of Object.keys(artifact)) {
    if (!LEGACY_FIELDS.has(name)) throw malformed('unexpected field in legacy approval');
  }
  const fields = { ...artifact };
  const approvalId = stringField(fields, 'approval_id');
  if (!UUID.test(approvalId)) throw malformed('approval_id must be a UUID');
  const tenantId = stringField(fields, 'tenant_id');
  const actionHash = stringField(fields, 'action_hash');
  if (!HEX_SHA256.test(actionHash)) throw malformed('action_hash must be 64 lowercase hex characters');
  if (fields.expires_at === undefined || fields.expires_at === null || fields.expires_at === '') {
    throw malformed('Missing expires_at in approval artifact');
  }
  const issuedAtText = stringField(fields, 'issued_at');
  const expiresAtText = stringField(fields, 'expires_at');
  const issuedAt = parseNaiveUtcIso(issuedAtText);
  if (issuedAt === undefined) throw malformed('invalid issued_at timestamp (naive ISO-8601 UTC expected)');
  const expiresAt = parseNaiveUtcIso(expiresAtText);
  if (expiresAt === undefined) throw malformed('invalid expires_at timestamp (naive ISO-8601 UTC expected)');
  const signatureText = stringField(fields, 'signature');
  if (!BASE64_SIG.test(signatureText)) throw malformed('signature must be base64 of 64 bytes');
  const signature = Buffer.from(signatureText, 'base64');
  if (signature.length !== 64 || signature.toString('base64') !== signatureText) {
    throw malformed('signature must be canonical base64 of 64 bytes');
  }
  let issuedBy: string | undefined;
  if (fields.issued_by !== undefined) {
    if (typeof fields.issued_by !== 'string' || fields.issued_by.length > MAX_FIELD) {
      throw malformed('issued_by must be a string');
    }
    // It becomes the receipt's issuer, which must be text that can be canonicalised and signed.
    if (/\p{Surrogate}/u.test(fields.issued_by)) throw malformed('issued_by contains a lone surrogate');
    issuedBy = fields.issued_by;
  }

  // 2-3. No kid in this format: try every key valid now.
  const candidates = opts.keys.keys().filter((k) => isKeyValidAt(k, opts.nowSeconds));
  if (candidates.length === 0) {
    throw new ApprovalError('ERR_APPROVAL_KEY_NOT_VALID', 'Signing key is not valid at this time');
  }
  const message = legacySigningMessage({
    approval_id: approvalId,
    tenant_id: tenantId,
    action_hash: actionHash,
    issued_at: issuedAtText,
    expires_at: expiresAtText,
  });
  const signer: ApprovalKey | undefined = candidates.find((k) =>
    cryptoVerify(null, message, k.publicKey, signature),
  );
  if (signer === undefined) {
    throw new ApprovalError(
      'ERR_APPROVAL_SIGNATURE_INVALID',
      'Invalid signature: approval artifact is not authentic',
    );
  }

  // 4-7.
  const issuer = issuedBy ?? LEGACY_DEFAULT_ISSUER;
  checkIssuer(issuer, opts, MOCK_ISSUER_PREFIX);
  checkTenant(tenantId, opts);
  checkTimes({ iat: issuedAt, nbf: issuedAt, exp: expiresAt }, opts);
  let expected: string;
  try {
    expected = legacyActionHash(request.action, request.payload);
  } catch (cause) {
    throw new ApprovalError('ERR_APPROVAL_PAYLOAD_MISMATCH', 'Action hash mismatch: payload is not JSON', {
      cause,
    });
  }
  if (expected !== actionHash) {
    throw new ApprovalError(
      'ERR_APPROVAL_PAYLOAD_MISMATCH',
      'Action hash mismatch: approval does not match this request',
    );
  }

  return {
    format: 'legacy',
    approvalId,
    issuer,
    kid: signer.kid,
    tenant: tenantId,
    nonce: null,
    maxUses: 1,
    subject: null,
    issuedAt: Math.floor(issuedAt),
    notBefore: Math.floor(issuedAt),
    expiresAt: Math.ceil(expiresAt),
    payloadDigest: actionHash,
  };
}
