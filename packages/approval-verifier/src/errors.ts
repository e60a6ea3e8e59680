/**
 * Every rejection of an approval artifact is an {@link ApprovalError} with a stable `code`.
 * Callers `switch` on the code; the message is short, for humans, and never contains key
 * material or the artifact itself.
 *
 * Misuse by the programmer (bad options, a non-string action) is a `TypeError`, not an
 * ApprovalError: it is a bug to fix, not an approval to refuse.
 */
export type ApprovalErrorCode =
  | 'ERR_APPROVAL_MISSING'
  | 'ERR_APPROVAL_MALFORMED'
  | 'ERR_APPROVAL_SIGNATURE_INVALID'
  | 'ERR_APPROVAL_EXPIRED'
  | 'ERR_APPROVAL_NOT_YET_VALID'
  | 'ERR_APPROVAL_LIFETIME_TOO_LONG'
  | 'ERR_APPROVAL_AUDIENCE_MISMATCH'
  | 'ERR_APPROVAL_ACTION_MISMATCH'
  | 'ERR_APPROVAL_PAYLOAD_MISMATCH'
  | 'ERR_APPROVAL_NONCE_MISMATCH'
  | 'ERR_APPROVAL_UNKNOWN_KEY'
  | 'ERR_APPROVAL_KEY_NOT_VALID'
  | 'ERR_APPROVAL_ALG_NOT_ALLOWED'
  | 'ERR_APPROVAL_ISSUER_NOT_ALLOWED';

export const APPROVAL_ERROR_CODES: readonly ApprovalErrorCode[] = Object.freeze([
  'ERR_APPROVAL_MISSING',
  'ERR_APPROVAL_MALFORMED',
  'ERR_APPROVAL_SIGNATURE_INVALID',
  'ERR_APPROVAL_EXPIRED',
  'ERR_APPROVAL_NOT_YET_VALID',
  'ERR_APPROVAL_LIFETIME_TOO_LONG',
  'ERR_APPROVAL_AUDIENCE_MISMATCH',
  'ERR_APPROVAL_ACTION_MISMATCH',
  'ERR_APPROVAL_PAYLOAD_MISMATCH',
  'ERR_APPROVAL_NONCE_MISMATCH',
  'ERR_APPROVAL_UNKNOWN_KEY',
  'ERR_APPROVAL_KEY_NOT_VALID',
  'ERR_APPROVAL_ALG_NOT_ALLOWED',
  'ERR_APPROVAL_ISSUER_NOT_ALLOWED',
] as const satisfies readonly ApprovalErrorCode[]);

export class ApprovalError extends Error {
  readonly code: ApprovalErrorCode;

  constructor(code: ApprovalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ApprovalError';
    this.code = code;
  }
}
