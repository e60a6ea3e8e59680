import { verify } from 'node:crypto';
import {
  type KeySet,
  legacyActionHash,
  legacySigningMessage,
  payloadDigest,
} from '@openexec/approval-verifier';
import { MockError } from './errors.js';
import type { ApprovalFormat } from './mint.js';
import { MOCK_ISSUER_PREFIX } from './mint.js';

export type SignatureCheck =
  | { status: 'not_checked' }
  | { status: 'valid'; kid: string }
  | { status: 'invalid'; reason: string };

/** What an approval says about itself, decoded without trusting it. */
export interface InspectReport {
  format: ApprovalFormat;
  /** v1 protected header; null for legacy. */
  header: Record<string, unknown> | null;
  /** v1 claims, or the legacy object's fields. */
  claims: Record<string, unknown>;
  approvalId: string | null;
  issuer: string | null;
  /** True when the issuer is `mock:*` (openexec-api refuses it unless OPENEXEC_ALLOW_MOCK_APPROVER=1). */
  mockIssuer: boolean;
  tenant: string | null;
  /** Bound action (v1 `act`); null for legacy, where only the hash of action+payload is signed. */
  action: string | null;
  nonce: string | null;
  maxUses: number | null;
  /** What binds the payload: v1 `pdg` (RFC 8785 + SHA-256), legacy `action_hash` (Python json.dumps + SHA-256). */
  binds: { kind: 'pdg' | 'action_hash'; value: string | null };
  issuedAt: string | null;
  expiresAt: string | null;
  expired: boolean | null;
  secondsLeft: number | null;
  signature: SignatureCheck;
  /** Present when a payload was given: whether the artifact binds exactly it. */
  payloadMatches?: boolean;
}

export interface InspectOptions {
  /** The instant `expired` refers to. Default: now. */
  now?: Date;
  /** Keys to check the signature against (e.g. the JWKS from `keygen` or GET /keys). */
  keys?: KeySet;
  /** With `payload`: compare what the artifact binds with this request. */
  action?: string;
  payload?: Record<string, unknown>;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const int = (value: unknown): number | null => (Number.isSafeInteger(value) ? (value as number) : null);

function invalid(message: string, cause?: unknown): MockError {
  return new MockError('ERR_MOCK_INVALID_INPUT', message, cause === undefined ? undefined : { cause });
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`${what} is not JSON`, error);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) throw invalid(`${what} is not base64url`);
  return parseObject(Buffer.from(segment, 'base64url').toString('utf8'), what);
}

function timing(
  issuedMs: number | null,
  expiresMs: number | null,
  now: Date,
): Pick<InspectReport, 'issuedAt' | 'expiresAt' | 'expired' | 'secondsLeft'> {
  const iso = (ms: number | null) =>
    ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
  const valid = expiresMs !== null && Number.isFinite(expiresMs);
  return {
    issuedAt: iso(issuedMs),
    expiresAt: iso(expiresMs),
    expired: valid ? now.getTime() >= expiresMs : null,
    secondsLeft: valid ? Math.trunc((expiresMs - now.getTime()) / 1000) : null,
  };
}

function payloadMatches(compute: () => string, bound: string | null): boolean {
  try {
    return bound !== null && compute() === bound;
  } catch {
    return false;
  }
}

function inspectV1(token: string, options: InspectOptions, now: Date): InspectReport {
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid('a v1 approval has three dot-separated segments');
  const [h, c, s] = parts as [string, string, string];
  const header = decodeSegment(h, 'header');
  const claims = decodeSegment(c, 'claims');
  const iat = int(claims.iat);
  const exp = int(claims.exp);
  const issuer = str(claims.iss);
  const pdg = str(claims.pdg);
  let signature: SignatureCheck = { status: 'not_checked' };
  if (options.keys) {
    const kid = str(header.kid);
    const key = kid === null ? undefined : options.keys.findKey(kid);
    if (header.alg !== 'EdDSA') signature = { status: 'invalid', reason: 'alg is not EdDSA' };
    else if (!key) signature = { status: 'invalid', reason: `no key with kid ${JSON.stringify(kid)}` };
    else {
      const ok = verify(null, Buffer.from(`${h}.${c}`, 'ascii'), key.publicKey, Buffer.from(s, 'base64url'));
      signature = ok
        ? { status: 'valid', kid: key.kid }
        : { status: 'invalid', reason: 'signature does not verify' };
    }
  }
  const report: InspectReport = {
    format: 'v1',
    header,
    claims,
    approvalId: str(claims.jti),
    issuer,
    mockIssuer: issuer?.startsWith(MOCK_ISSUER_PREFIX) ?? false,
    tenant: str(claims.aud),
    action: str(claims.act),
    nonce: str(claims.non),
    maxUses: claims.max === undefined ? 1 : int(claims.max),
    binds: { kind: 'pdg', value: pdg },
    ...timing(iat === null ? null : iat * 1000, exp === null ? null : exp * 1000, now),
    signature,
  };
  if (options.payload !== undefined) {
    const actionOk = options.action === undefined || options.action === report.action;
    report.payloadMatches = actionOk && payloadMatches(() => payloadDigest(options.payload), pdg);
  }
  return report;
}

/** Python naive UTC isoformat -> epoch ms (microseconds truncated); null when not that form. */
function naiveUtcMs(value: unknown): number | null {
  if (typeof value !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/.test(value)) return null;
  const ms = Date.parse(`${value.slice(0, 23)}Z`);
  return Number.isNaN(ms) ? null : ms;
}

function inspectLegacy(fields: Record<string, unknown>, options: InspectOptions, now: Date): InspectReport {
  const issuer = str(fields.issued_by);
  const hash = str(fields.action_hash);
  let signature: SignatureCheck = { status: 'not_checked' };
  if (options.keys) {
    const signed = ['approval_id', 'tenant_id', 'action_hash', 'issued_at', 'expires_at', 'signature'];
    const missing = signed.find((name) => typeof fields[name] !== 'string');
    if (missing) signature = { status: 'invalid', reason: `${missing} is missing or not a string` };
    else {
      const message = legacySigningMessage(fields as unknown as Parameters<typeof legacySigningMessage>[0]);
      const bytes = Buffer.from(fields.signature as string, 'base64');
      const key = options.keys.keys().find((k) => verify(null, message, k.publicKey, bytes));
      signature = key
        ? { status: 'valid', kid: key.kid }
        : { status: 'invalid', reason: 'signature does not verify with any key' };
    }
  }
  const report: InspectReport = {
    format: 'legacy',
    header: null,
    claims: fields,
    approvalId: str(fields.approval_id),
    issuer,
    mockIssuer: issuer?.startsWith(MOCK_ISSUER_PREFIX) ?? false,
    tenant: str(fields.tenant_id),
    action: null,
    nonce: null,
    maxUses: 1,
    binds: { kind: 'action_hash', value: hash },
    ...timing(naiveUtcMs(fields.issued_at), naiveUtcMs(fields.expires_at), now),
    signature,
  };
  if (options.payload !== undefined) {
    const action = options.action;
    report.payloadMatches =
      action !== undefined && payloadMatches(() => legacyActionHash(action, options.payload), hash);
  }
  return report;
}

/**
 * Decodes an approval (a v1 token, a legacy JSON object, or its JSON text) and reports what it
 * binds and whether it is still valid. With `keys`, also whether the signature verifies.
 * This is a debugging aid, not a verifier: openexec-api runs the full checks.
 */
export function inspectApproval(artifact: unknown, options: InspectOptions = {}): InspectReport {
  const now = options.now ?? new Date();
  if (typeof artifact === 'string') {
    const text = artifact.trim();
    if (text.startsWith('{')) return inspectLegacy(parseObject(text, 'legacy approval'), options, now);
    return inspectV1(text, options, now);
  }
  if (typeof artifact === 'object' && artifact !== null && !Array.isArray(artifact)) {
    return inspectLegacy(artifact as Record<string, unknown>, options, now);
  }
  throw invalid('expected a v1 token or a legacy approval object');
}
