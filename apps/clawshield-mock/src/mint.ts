import { randomUUID, sign } from 'node:crypto';
import {
  legacyActionHash,
  legacySigningMessage,
  payloadDigest,
  V1_APPROVAL_TYP,
} from '@openexec/approval-verifier';
import { z } from 'zod';
import { describeIssues, MockError } from './errors.js';
import type { ApproverKey } from './keys.js';

/**
 * openexec-api refuses issuers with this prefix unless started with
 * OPENEXEC_ALLOW_MOCK_APPROVER=1: every artifact minted here carries it, so a mock approval can
 * never pass for a real one in a correctly configured deployment.
 */
export const MOCK_ISSUER_PREFIX = 'mock:';
export const DEFAULT_APPROVER_NAME = 'clawshield-mock';
export const DEFAULT_TTL_SECONDS = 300;
/** openexec-api's default `OPENEXEC_APPROVAL_MAX_LIFETIME_S`; longer approvals would be refused. */
export const MAX_TTL_SECONDS = 3600;
export const MAX_USES_LIMIT = 1000;

export type ApprovalFormat = 'v1' | 'legacy';
export const APPROVAL_FORMATS: readonly ApprovalFormat[] = ['v1', 'legacy'];

/** The same rules openexec-api applies to a nonce: printable, trimmed, at most 200 characters. */
const NonceSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters')
  .refine((value) => value.trim() === value, 'must not start or end with whitespace');

/** As deep as openexec-api accepts a request body: a deeper payload could never be executed. */
export const MAX_PAYLOAD_DEPTH = 32;

/** Whether `value` nests at most `limit` levels (checked without recursion: it may be hostile). */
function nestsWithin(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > limit) return false;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return true;
}

/** What an approval is for. Shared by the CLI, the HTTP routes and the queue. */
export const ApprovalSpecSchema = z.strictObject({
  action: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
  /** A JSON object, as openexec-api's `payload`; absent means `{}` there too. */
  payload: z
    .record(z.string(), z.unknown())
    .refine(
      (payload) => nestsWithin(payload, MAX_PAYLOAD_DEPTH),
      `must not nest deeper than ${MAX_PAYLOAD_DEPTH} levels`,
    )
    .default({}),
  nonce: NonceSchema.optional(),
  max: z.number().int().min(1).max(MAX_USES_LIMIT).optional(),
  sub: z.string().min(1).max(256).optional(),
  ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
});
export type ApprovalSpec = z.input<typeof ApprovalSpecSchema>;
type ResolvedSpec = z.output<typeof ApprovalSpecSchema>;

export interface Approver {
  readonly key: ApproverKey;
  readonly tenant: string;
  /** Always `mock:<name>`. */
  readonly issuer: string;
  readonly now: () => Date;
  readonly newId: () => string;
}

export interface ApproverOptions {
  key: ApproverKey;
  tenant: string;
  /** Approver name; the issuer becomes `mock:<name>`. Default `clawshield-mock`. */
  name?: string;
  /** Clock (tests pass a fixed one). */
  now?: () => Date;
  /** Approval id source (tests pass a fixed one). Must return UUIDs: the legacy verifier requires them. */
  newId?: () => string;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function createApprover(options: ApproverOptions): Approver {
  const name = options.name ?? DEFAULT_APPROVER_NAME;
  if (!NAME.test(name)) {
    throw new MockError('ERR_MOCK_INVALID_INPUT', 'approver name: 1-64 characters of A-Z a-z 0-9 . _ -');
  }
  if (options.tenant.length < 1 || options.tenant.length > 200) {
    throw new MockError('ERR_MOCK_INVALID_INPUT', 'tenant: 1-200 characters');
  }
  return Object.freeze({
    key: options.key,
    tenant: options.tenant,
    issuer: `${MOCK_ISSUER_PREFIX}${name}`,
    now: options.now ?? (() => new Date()),
    newId: options.newId ?? randomUUID,
  });
}

export interface V1Header {
  alg: 'EdDSA';
  typ: typeof V1_APPROVAL_TYP;
  kid: string;
}

export interface V1Claims {
  iss: string;
  sub?: string;
  aud: string;
  jti: string;
  iat: number;
  nbf: number;
  exp: number;
  act: string;
  pdg: string;
  non?: string;
  max?: number;
}

export interface MintedV1 {
  format: 'v1';
  artifact: string;
  header: V1Header;
  claims: V1Claims;
}

/** The legacy object in the field order of Python's `clawshield_client.py`, plus `issued_by`. */
export interface LegacyArtifact {
  approval_id: string;
  tenant_id: string;
  action_hash: string;
  issued_at: string;
  expires_at: string;
  signature: string;
  /** Not covered by the signature (the format has no room for it): advisory only. */
  issued_by: string;
}

export interface MintedLegacy {
  format: 'legacy';
  artifact: LegacyArtifact;
  /** The fields the signature covers, plus `issued_by`: what a legacy "claim set" is. */
  claims: Omit<LegacyArtifact, 'signature'>;
}

export type Minted = MintedV1 | MintedLegacy;

function resolve(spec: ApprovalSpec): ResolvedSpec {
  const parsed = ApprovalSpecSchema.safeParse(spec);
  if (!parsed.success) {
    throw new MockError('ERR_MOCK_INVALID_INPUT', describeIssues(parsed.error), { cause: parsed.error });
  }
  return parsed.data;
}

function approvalId(approver: Approver): string {
  const id = approver.newId();
  if (!UUID.test(id)) throw new TypeError('newId must return a lowercase UUID');
  return id;
}

function nowMs(approver: Approver): number {
  const ms = approver.now().getTime();
  if (!Number.isFinite(ms)) throw new TypeError('now() returned an invalid date');
  return ms;
}

function digestOf(compute: () => string): string {
  try {
    return compute();
  } catch (error) {
    // Non-I-JSON payloads (a lone surrogate, say) cannot be canonicalised.
    throw new MockError('ERR_MOCK_INVALID_INPUT', `payload: ${(error as Error).message}`, { cause: error });
  }
}

const b64url = (json: unknown) => Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');

/**
 * A v1 approval (SPEC §3.1): compact JWS, EdDSA over `header.claims`, signed with node:crypto.
 * Ed25519 is deterministic, so a fixed key, clock and id give the same token byte for byte.
 */
export function mintV1(approver: Approver, spec: ApprovalSpec): MintedV1 {
  const s = resolve(spec);
  const pdg = digestOf(() => payloadDigest(s.payload));
  const iat = Math.floor(nowMs(approver) / 1000);
  const header: V1Header = { alg: 'EdDSA', typ: V1_APPROVAL_TYP, kid: approver.key.kid };
  const claims: V1Claims = {
    iss: approver.issuer,
    ...(s.sub === undefined ? {} : { sub: s.sub }),
    aud: approver.tenant,
    jti: approvalId(approver),
    iat,
    nbf: iat,
    exp: iat + s.ttlSeconds,
    act: s.action,
    pdg,
    ...(s.nonce === undefined ? {} : { non: s.nonce }),
    ...(s.max === undefined ? {} : { max: s.max }),
  };
  const input = `${b64url(header)}.${b64url(claims)}`;
  const signature = sign(null, Buffer.from(input, 'ascii'), approver.key.privateKey).toString('base64url');
  return { format: 'v1', artifact: `${input}.${signature}`, header, claims };
}

/**
 * Python `datetime.isoformat()` of a naive UTC datetime, as `datetime.utcnow().isoformat()`
 * prints it: `YYYY-MM-DDTHH:MM:SS.ffffff`, and no fraction at all when the microseconds are 0.
 */
export function pythonUtcIsoformat(epochMs: number): string {
  const date = new Date(epochMs);
  const seconds = date.toISOString().slice(0, 19);
  const micros = date.getUTCMilliseconds() * 1000;
  return micros === 0 ? seconds : `${seconds}.${String(micros).padStart(6, '0')}`;
}

/**
 * A legacy approval, byte-compatible with Python's `mint_approval_artifact`: the same
 * action hash, timestamps and signed concatenation. The format cannot bind a nonce, a use
 * count or a subject, so asking for one is an error rather than a silent omission.
 */
export function mintLegacy(approver: Approver, spec: ApprovalSpec): MintedLegacy {
  const s = resolve(spec);
  for (const field of ['nonce', 'max', 'sub'] as const) {
    if (s[field] !== undefined) {
      throw new MockError(
        'ERR_MOCK_INVALID_INPUT',
        `${field}: the legacy format cannot carry it (use the v1 format)`,
      );
    }
  }
  const issued = nowMs(approver);
  const fields = {
    approval_id: approvalId(approver),
    tenant_id: approver.tenant,
    action_hash: digestOf(() => legacyActionHash(s.action, s.payload)),
    issued_at: pythonUtcIsoformat(issued),
    expires_at: pythonUtcIsoformat(issued + s.ttlSeconds * 1000),
  };
  const signature = sign(null, legacySigningMessage(fields), approver.key.privateKey).toString('base64');
  const artifact: LegacyArtifact = { ...fields, signature, issued_by: approver.issuer };
  return { format: 'legacy', artifact, claims: { ...fields, issued_by: approver.issuer } };
}

export function mintApproval(approver: Approver, format: ApprovalFormat, spec: ApprovalSpec): Minted {
  switch (format) {
    case 'v1':
      return mintV1(approver, spec);
    case 'legacy':
      return mintLegacy(approver, spec);
    default: {
      const never: never = format;
      throw new MockError('ERR_MOCK_INVALID_INPUT', `format: expected v1 or legacy, got ${String(never)}`);
    }
  }
}
