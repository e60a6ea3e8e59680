import type { z } from 'zod';
/**
 * Every failure the mock reports on purpose is a {@link MockError} with a stable `code`; the
 * CLI maps codes to exit statuses and the HTTP adapter maps them to statuses (one table each).
 */
export type MockErrorCode =
  /** Bad command line (unknown command/flag, missing value): CLI exit 2. */
  | 'ERR_MOCK_USAGE'
  /** A value that cannot be minted or parsed (bad payload, ttl out of range, unreadable artifact). */
  | 'ERR_MOCK_INVALID_INPUT'
  /** A key file that is missing, unreadable, not an Ed25519 private key, or already present. */
  | 'ERR_MOCK_KEY'
  /** Refused to run: production environment or a non-loopback address. */
  | 'ERR_MOCK_UNSAFE'
  /** No approval request with that id. */
  | 'ERR_MOCK_NOT_FOUND'
  /** The request was already approved or denied. */
  | 'ERR_MOCK_NOT_PENDING'
  /** The in-memory queue holds its maximum of pending requests. */
  | 'ERR_MOCK_QUEUE_FULL';

export const MOCK_ERROR_CODES: readonly MockErrorCode[] = [
  'ERR_MOCK_USAGE',
  'ERR_MOCK_INVALID_INPUT',
  'ERR_MOCK_KEY',
  'ERR_MOCK_UNSAFE',
  'ERR_MOCK_NOT_FOUND',
  'ERR_MOCK_NOT_PENDING',
  'ERR_MOCK_QUEUE_FULL',
];

export class MockError extends Error {
  readonly code: MockErrorCode;

  constructor(code: MockErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MockError';
    this.code = code;
  }
}

/** One line per zod issue, naming the field: `payload.a: expected number`. */
export function describeIssues(error: z.ZodError, limit = 10): string {
  return error.issues
    .slice(0, limit)
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      const message =
        issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join('; ');
}
