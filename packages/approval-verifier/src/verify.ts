import { ApprovalError } from './errors.js';
import { verifyLegacy } from './legacy.js';
import type { ApprovalRequest, ResolvedOptions, VerifiedApproval, VerifyApprovalOptions } from './types.js';
import {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_MAX_LIFETIME_SECONDS,
  DEFAULT_MAX_TOKEN_BYTES,
} from './types.js';
import { verifyV1 } from './v1.js';

function nonNegative(value: number | undefined, fallback: number, name: string, integer = false): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw new TypeError(`verifyApproval: ${name} must be a non-negative ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

/** Programmer errors (bad options or request types) are TypeErrors, never ApprovalErrors. */
function resolveOptions(options: VerifyApprovalOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('verifyApproval: options are required');
  const { now, tenant, keys } = options;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new TypeError('verifyApproval: now must be a valid Date');
  }
  if (typeof tenant !== 'string' || tenant === '')
    throw new TypeError('verifyApproval: tenant must be a non-empty string');
  if (
    typeof keys !== 'object' ||
    keys === null ||
    typeof keys.findKey !== 'function' ||
    typeof keys.keys !== 'function'
  ) {
    throw new TypeError('verifyApproval: keys must be a KeySet (see parseKeySet)');
  }
  if (options.allowMockIssuers !== undefined && typeof options.allowMockIssuers !== 'boolean') {
    throw new TypeError('verifyApproval: allowMockIssuers must be a boolean');
  }
  return {
    nowSeconds: now.getTime() / 1000,
    tenant,
    keys,
    maxLifetimeSeconds: nonNegative(
      options.maxLifetimeSeconds,
      DEFAULT_MAX_LIFETIME_SECONDS,
      'maxLifetimeSeconds',
    ),
    clockToleranceSeconds: nonNegative(
      options.clockToleranceSeconds,
      DEFAULT_CLOCK_TOLERANCE_SECONDS,
      'clockToleranceSeconds',
    ),
    maxTokenBytes: nonNegative(options.maxTokenBytes, DEFAULT_MAX_TOKEN_BYTES, 'maxTokenBytes', true),
    allowMockIssuers: options.allowMockIssuers ?? false,
  };
}

function checkRequest(request: ApprovalRequest): void {
  if (typeof request !== 'object' || request === null)
    throw new TypeError('verifyApproval: request is required');
  if (typeof request.action !== 'string')
    throw new TypeError('verifyApproval: request.action must be a string');
  if (typeof request.nonce !== 'string')
    throw new TypeError('verifyApproval: request.nonce must be a string');
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return !Array.isArray(value) && (proto === Object.prototype || proto === null);
}

/**
 * Verifies an approval artifact for exactly this request, at `options.now`.
 * - a string is a v1 compact JWS (SPEC §3.1)
 * - a plain object with `approval_id` is a legacy ClawShield artifact (SPEC §3.2)
 * - `undefined` / `null` rejects with ERR_APPROVAL_MISSING; anything else ERR_APPROVAL_MALFORMED.
 * Resolves with the verified, typed approval; rejects with an {@link ApprovalError}. Pure:
 * no I/O, no clock, no state. Single use (`jti` / `approval_id` consumption) is the store's job.
 */
export async function verifyApproval(
  artifact: unknown,
  request: ApprovalRequest,
  options: VerifyApprovalOptions,
): Promise<VerifiedApproval> {
  const opts = resolveOptions(options);
  checkRequest(request);
  if (artifact === undefined || artifact === null) {
    throw new ApprovalError('ERR_APPROVAL_MISSING', 'Approval artifact missing');
  }
  if (typeof artifact === 'string') return verifyV1(artifact, request, opts);
  if (typeof artifact === 'object' && isPlainObject(artifact) && Object.hasOwn(artifact, 'approval_id')) {
    return verifyLegacy(artifact, request, opts);
  }
  throw new ApprovalError(
    'ERR_APPROVAL_MALFORMED',
    'Malformed approval: expected a compact JWS string or a legacy approval object',
  );
}
