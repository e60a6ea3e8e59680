import type { KeySet } from './keys.js';

/** What the caller wants to execute; the approval must match it exactly. */
export interface ApprovalRequest {
  action: string;
  /** The request payload; the API passes `{}` when the request has none. */
  payload: unknown;
  nonce: string;
}

export interface VerifyApprovalOptions {
  /** The verification instant. Always passed in: verification never reads the clock. */
  now: Date;
  /** Expected tenant: `aud` (v1) / `tenant_id` (legacy) must equal it. */
  tenant: string;
  /** Approver keys; v1 picks one by `kid`, legacy tries every key valid at `now`. */
  keys: KeySet;
  /** Upper bound of `exp - iat`, seconds. Default 3600. */
  maxLifetimeSeconds?: number;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, seconds. Default 30. */
  clockToleranceSeconds?: number;
  /** Largest accepted v1 token, UTF-8 bytes. Default 8192. */
  maxTokenBytes?: number;
  /** Accept issuers starting with `mock:` (development approvers). Default false. */
  allowMockIssuers?: boolean;
}

export interface VerifiedApproval {
  format: 'v1' | 'legacy';
  /** v1 `jti` / legacy `approval_id`: the id the store consumes. */
  approvalId: string;
  /** v1 `iss` / legacy `issued_by` (unsigned in legacy; `clawshield` when absent). */
  issuer: string;
  /** The key that verified the signature. */
  kid: string;
  tenant: string;
  /** v1 `non` binding; null when unbound and always null for legacy. */
  nonce: string | null;
  /** v1 `max` (default 1); legacy always 1. */
  maxUses: number;
  subject: string | null;
  /** Epoch seconds. Legacy timestamps are rounded outward (issuedAt down, expiresAt up). */
  issuedAt: number;
  notBefore: number;
  expiresAt: number;
  /** v1 `pdg` / legacy `action_hash`. */
  payloadDigest: string;
}

/** Options with defaults applied, resolved once per call. */
export interface ResolvedOptions {
  nowSeconds: number;
  tenant: string;
  keys: KeySet;
  maxLifetimeSeconds: number;
  clockToleranceSeconds: number;
  maxTokenBytes: number;
  allowMockIssuers: boolean;
}

export const DEFAULT_MAX_LIFETIME_SECONDS = 3600;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
export const DEFAULT_MAX_TOKEN_BYTES = 8192;
export const MOCK_ISSUER_PREFIX = 'mock:';
