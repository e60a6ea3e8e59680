import express, { type RequestHandler } from 'express';
import { ApiError } from './errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 32;

/**
 * Strict JSON bodies: only `application/json`, size-limited, objects or arrays at the top,
 * no prototype-polluting keys anywhere, bounded nesting (canonicalisation recurses).
 */
export function jsonBody(limitBytes: number): RequestHandler {
  const parse = express.json({ limit: limitBytes, strict: true, type: () => true });
  // One router layer for all three steps (each layer costs every request a dispatch).
  return (req, res, next) => {
    if (!req.is('application/json')) {
      next(new ApiError(415, 'unsupported_media_type', 'Content-Type must be application/json'));
      return;
    }
    parse(req, res, (error?: unknown) => {
      if (error !== undefined) {
        next(error);
        return;
      }
      try {
        checkValue(req.body, 0);
      } catch (problem) {
        next(problem);
        return;
      }
      next();
    });
  };
}

function checkValue(value: unknown, depth: number): void {
  if (value === null || typeof value !== 'object') return;
  if (depth > MAX_DEPTH) throw new ApiError(400, 'too_deep', `JSON nesting deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (const item of value) checkValue(item, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) throw new ApiError(400, 'forbidden_key', `JSON key "${key}" is not allowed`);
    checkValue((value as Record<string, unknown>)[key], depth + 1);
  }
}

/** Maps body-parser's errors (which carry `type` and `status`) onto coded API errors. */
export function bodyParserError(error: unknown): ApiError | null {
  if (!error || typeof error !== 'object' || !('type' in error)) return null;
  const type = (error as { type?: unknown }).type;
  switch (type) {
    case 'entity.too.large':
      return new ApiError(413, 'payload_too_large', 'request body is larger than the configured limit');
    case 'entity.parse.failed':
      return new ApiError(400, 'malformed_json', 'request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError(415, 'unsupported_media_type', 'request body must be UTF-8 JSON');
    case 'request.aborted':
      return new ApiError(400, 'invalid_request', 'request body was not received completely');
    case 'entity.verify.failed':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new ApiError(400, 'invalid_request', 'request body could not be read');
    default:
      return null;
  }
}
