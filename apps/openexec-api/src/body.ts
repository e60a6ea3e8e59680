import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import typeis from 'type-is';
import { ApiError } from './errors.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 32;

export type BodyParser = (
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Strict JSON bodies: only `application/json`, size-limited, objects or arrays at the top,
 * no prototype-polluting keys anywhere, bounded nesting (canonicalisation recurses). Sets
 * `req.body`; works on a plain `node:http` request as well as inside Express.
 */
export function jsonBody(limitBytes: number): BodyParser {
  const parse = express.json({
    limit: limitBytes,
    strict: true,
    type: () => true,
    verify: checkRawBody,
  });
  // One step for all three (as an Express layer, each layer costs every request a dispatch).
  return (req, res, next) => {
    if (!typeis.hasBody(req)) {
      next(new ApiError(400, 'invalid_request', 'a JSON request body is required'));
      return;
    }
    if (!typeis(req, ['application/json'])) {
      next(new ApiError(415, 'unsupported_media_type', 'Content-Type must be application/json'));
      return;
    }
    parse(req, res, (error?: unknown) => {
      if (error !== undefined) {
        next(parserError(error));
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

/** A body refused before JSON.parse, with the detail of its 400. */
class RawBodyProblem extends Error {}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Runs before JSON.parse (body-parser's `verify`; text that is not JSON is left to it).
 * Repeated member names: JSON.parse keeps the last, while a proxy, a WAF or a log pipeline may
 * keep the first and read another request than the one that runs (the approval verifier
 * refuses them in approvals too). Invalid UTF-8: decoding replaces it with U+FFFD, so two
 * different nonces could become one.
 */
function checkRawBody(_req: unknown, _res: unknown, buf: Buffer, encoding: string): void {
  const text = buf.toString(encoding as BufferEncoding);
  if (text.includes('\uFFFD')) {
    try {
      STRICT_UTF8.decode(buf);
    } catch {
      throw new RawBodyProblem('request body is not valid UTF-8');
    }
  }
  if (repeatsMemberName(text)) throw new RawBodyProblem('request body repeats a member name in one object');
}

/**
 * Whether an object in the JSON text repeats a member name, in one pass that builds no values
 * (a strict parser cost 3 – 5% of a request's CPU here). Names spelled with escapes are
 * compared decoded, so `"a"` and `"\u0061"` are the same name.
 */
export function repeatsMemberName(text: string): boolean {
  // Per open container: the names seen so far (objects), or null (arrays).
  const open: Array<Set<string> | null> = [];
  let nameNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) {
          escaped = true;
          i++;
        }
      }
      const names = open[open.length - 1];
      if (nameNext && names) {
        nameNext = false;
        let name: string;
        try {
          name = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
        } catch {
          return false;
        }
        if (names.has(name)) return true;
        names.add(name);
      }
    } else if (c === 0x7b) {
      open.push(new Set());
      nameNext = true;
    } else if (c === 0x5b) {
      open.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
    } else if (c === 0x2c) {
      nameNext = open[open.length - 1] != null;
    }
  }
  return false;
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

/**
 * body-parser's errors (which carry `status` and, for the ones it names, `type`) as coded API
 * errors. Its 4xx errors without a type are the decompressor's (a body labelled gzip that is
 * not): bad input too. Anything else stays an unexpected error.
 */
function parserError(error: unknown): unknown {
  const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
  switch (type) {
    case 'entity.too.large':
      return new ApiError(413, 'payload_too_large', 'request body is larger than the configured limit');
    case 'entity.parse.failed':
      return new ApiError(400, 'malformed_json', 'request body is not valid JSON');
    case 'entity.verify.failed':
      if (error instanceof RawBodyProblem) return new ApiError(400, 'malformed_json', error.message);
      break;
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError(415, 'unsupported_media_type', 'request body must be UTF-8 JSON');
    case 'request.aborted':
      return new ApiError(400, 'invalid_request', 'request body was not received completely');
  }
  if (typeof status === 'number' && status >= 400 && status < 500)
    return new ApiError(400, 'invalid_request', 'request body could not be read');
  return error;
}
