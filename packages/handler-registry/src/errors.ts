export type HandlerErrorCode =
  | 'ERR_HANDLER_DUPLICATE'
  | 'ERR_HANDLER_RESERVED_NAME'
  | 'ERR_HANDLER_INVALID_NAME'
  | 'ERR_HANDLER_INVALID_DEFINITION'
  | 'ERR_HANDLER_UNKNOWN_ALLOWED';

/** Programmer/operator mistakes found while building the registry at start-up. */
export class HandlerRegistryError extends Error {
  readonly code: HandlerErrorCode;
  constructor(code: HandlerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HandlerRegistryError';
    this.code = code;
  }
}

/**
 * A failure whose code and message the handler author wrote (never request data), stored and
 * replayed as the outcome's code. Any other thrown error is reduced to its class name.
 */
export class HandlerFailure extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HandlerFailure';
    this.code = code;
  }
}
