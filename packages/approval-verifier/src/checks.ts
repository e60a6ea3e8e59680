import { ApprovalError } from './errors.js';
import type { ResolvedOptions } from './types.js';

/**
 * Time checks shared by both formats, in this order: EXPIRED, NOT_YET_VALID,
 * LIFETIME_TOO_LONG, then inconsistent times (MALFORMED). Expiry comes first so that an
 * artifact minted with a negative TTL reports "expired", as the Python service did.
 * Valid while `nbf - tol <= now`, `iat - tol <= now` and `now < exp + tol`.
 */
export function checkTimes(t: { iat: number; nbf: number; exp: number }, opts: ResolvedOptions): void {
  const now = opts.nowSeconds;
  const tol = opts.clockToleranceSeconds;
  if (now >= t.exp + tol) throw new ApprovalError('ERR_APPROVAL_EXPIRED', 'Approval artifact expired');
  if (t.nbf > now + tol)
    throw new ApprovalError('ERR_APPROVAL_NOT_YET_VALID', 'Approval artifact is not yet valid');
  if (t.iat > now + tol) {
    throw new ApprovalError('ERR_APPROVAL_NOT_YET_VALID', 'Approval artifact is issued in the future');
  }
  if (t.exp - t.iat > opts.maxLifetimeSeconds) {
    throw new ApprovalError(
      'ERR_APPROVAL_LIFETIME_TOO_LONG',
      'Approval lifetime exceeds the allowed maximum',
    );
  }
  if (t.exp < t.iat || t.exp < t.nbf) {
    throw new ApprovalError(
      'ERR_APPROVAL_MALFORMED',
      'Malformed approval: expiry is before issue or not-before time',
    );
  }
}

export function checkIssuer(issuer: string, opts: ResolvedOptions, prefix: string): void {
  if (!opts.allowMockIssuers && issuer.startsWith(prefix)) {
    throw new ApprovalError(
      'ERR_APPROVAL_ISSUER_NOT_ALLOWED',
      'Issuer not allowed: mock issuers are refused',
    );
  }
}

export function checkTenant(tenant: string, opts: ResolvedOptions): void {
  if (tenant !== opts.tenant) {
    throw new ApprovalError(
      'ERR_APPROVAL_AUDIENCE_MISMATCH',
      'Tenant mismatch: approval is for another tenant',
    );
  }
}
