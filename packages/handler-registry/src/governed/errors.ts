import { HandlerFailure } from '../errors.js';
/**
 * Errors of the governed `process` and `code` handlers.
 *
 * Start-up problems (a bad config file, a missing or swapped executable, a failed probe) are
 * {@link GovernedConfigError}s: the service must not start with them. Request problems are
 * {@link GovernedInputError}s, refused before anything runs. Run-time refusals are thrown as
 * their own classes because `runHandler` keeps only an error's class name in the stored
 * outcome (`handler threw BinaryChangedError`): the name is the stable part.
 */
export type GovernedConfigErrorCode =
  | 'ERR_GOVERNED_CONFIG_INVALID'
  | 'ERR_GOVERNED_EXECUTABLE_INVALID'
  | 'ERR_GOVERNED_DIGEST_MISMATCH'
  | 'ERR_GOVERNED_PROBE_FAILED';

/** One config problem: the field path (`actions[0].argv.maxPositional`) and its line, if known. */
export interface GovernedConfigIssue {
  path: string;
  line: number | null;
  message: string;
}

export class GovernedConfigError extends Error {
  readonly code: GovernedConfigErrorCode;
  readonly issues: readonly GovernedConfigIssue[];
  constructor(
    code: GovernedConfigErrorCode,
    message: string,
    options?: { cause?: unknown; issues?: readonly GovernedConfigIssue[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GovernedConfigError';
    this.code = code;
    this.issues = Object.freeze([...(options?.issues ?? [])]);
  }
}

export type GovernedInputErrorCode =
  | 'ERR_INPUT_INVALID'
  | 'ERR_ARGV_DENIED_FLAG'
  | 'ERR_ARGV_UNKNOWN_FLAG'
  | 'ERR_ARGV_MISSING_VALUE'
  | 'ERR_ARGV_UNEXPECTED_VALUE'
  | 'ERR_ARGV_TOO_MANY_POSITIONALS'
  | 'ERR_ARGV_TOO_FEW_POSITIONALS'
  | 'ERR_ENV_FORBIDDEN'
  | 'ERR_CWD_OUTSIDE_ROOT'
  | 'ERR_CWD_NOT_FOUND'
  | 'ERR_CWD_NOT_ALLOWED';

export const GOVERNED_INPUT_ERROR_CODES: readonly GovernedInputErrorCode[] = Object.freeze([
  'ERR_INPUT_INVALID',
  'ERR_ARGV_DENIED_FLAG',
  'ERR_ARGV_UNKNOWN_FLAG',
  'ERR_ARGV_MISSING_VALUE',
  'ERR_ARGV_UNEXPECTED_VALUE',
  'ERR_ARGV_TOO_MANY_POSITIONALS',
  'ERR_ARGV_TOO_FEW_POSITIONALS',
  'ERR_ENV_FORBIDDEN',
  'ERR_CWD_OUTSIDE_ROOT',
  'ERR_CWD_NOT_FOUND',
  'ERR_CWD_NOT_ALLOWED',
] as const satisfies readonly GovernedInputErrorCode[]);

/** A request the action's profile refuses. The zod input schema reports the same refusal. */
export class GovernedInputError extends Error {
  readonly code: GovernedInputErrorCode;
  constructor(code: GovernedInputErrorCode, message: string) {
    super(message);
    this.name = 'GovernedInputError';
    this.code = code;
  }
}

export type GovernedRunErrorCode = 'binary_changed' | 'sandbox_unavailable' | 'spawn_failed';

/** Base of the run-time refusals; subclasses carry the stable class name. */
export class GovernedRunError extends HandlerFailure {
  override readonly code: GovernedRunErrorCode;
  constructor(code: GovernedRunErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GovernedRunError';
    this.code = code;
  }
}

/** The pinned executable or interpreter no longer has its pinned SHA-256: nothing ran. */
export class BinaryChangedError extends GovernedRunError {
  constructor(message: string) {
    super('binary_changed', message);
    this.name = 'BinaryChangedError';
  }
}

/** bubblewrap is not usable and the operator did not choose `isolation: none`: nothing ran. */
export class SandboxUnavailableError extends GovernedRunError {
  constructor(message: string) {
    super('sandbox_unavailable', message);
    this.name = 'SandboxUnavailableError';
  }
}
