import { hash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * The serialisation itself is done by `canonicalize`, the reference implementation by the
 * RFC's author. That library is permissive (it calls `toJSON`, drops `undefined` members,
 * stringifies lone surrogates), so every value is first checked against I-JSON (RFC 7493)
 * and copied into a fresh tree of plain data: the digest can only ever be computed over a
 * value that any other JCS implementation would canonicalise identically.
 */

type Serialize = (input: unknown) => string | undefined;
// `canonicalize` is CommonJS (`module.exports = fn`) with a `export default` typing: under
// NodeNext TypeScript types the default import as the module, Node gives the function.
const canonicalize: Serialize = (() => {
  const mod = canonicalizeModule as unknown as Serialize | { default: Serialize };
  return typeof mod === 'function' ? mod : mod.default;
})();

/** Deeper values are refused rather than risking a stack overflow on hostile input. */
export const MAX_CANONICAL_DEPTH = 128;

// With the `u` flag a well-formed surrogate pair is one code point, so this matches lone halves only.
const LONE_SURROGATE = /\p{Surrogate}/u;

// The path to the value being copied, as keys and indexes; written out only for an error
// message (every member of every payload and result is copied, few are ever refused).
type Path = Array<string | number>;

function describe(path: Path): string {
  if (path.length === 0) return 'the value';
  return `value at ${path.map((step) => (typeof step === 'number' ? `[${step}]` : `.${step}`)).join('')}`;
}

function snapshot(value: unknown, path: Path, ancestors: Set<object>): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new TypeError(`${describe(path)} contains a lone surrogate`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${describe(path)} is not a finite number`);
    return value;
  }
  if (typeof value !== 'object') {
    // undefined, function, bigint, symbol
    throw new TypeError(`${describe(path)} is not JSON (${typeof value})`);
  }
  if (path.length >= MAX_CANONICAL_DEPTH) throw new TypeError(`${describe(path)} is nested too deeply`);
  if (ancestors.has(value)) throw new TypeError(`${describe(path)} is a circular reference`);
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      if (Object.getPrototypeOf(value) !== Array.prototype) {
        throw new TypeError(`${describe(path)} is not a plain array`);
      }
      const out: unknown[] = [];
      for (let i = 0; i < value.length; i++) {
        path.push(i);
        if (!Object.hasOwn(value, i)) throw new TypeError(`${describe(path)} is a hole`);
        out.push(snapshot(value[i], path, ancestors));
        path.pop();
      }
      return out;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`${describe(path)} is not a plain object`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new TypeError(`${describe(path)} has symbol keys`);
    }
    const entries: [string, unknown][] = [];
    for (const key of Object.keys(value)) {
      if (LONE_SURROGATE.test(key))
        throw new TypeError(`a member name in ${describe(path)} contains a lone surrogate`);
      path.push(key);
      entries.push([key, snapshot((value as Record<string, unknown>)[key], path, ancestors)]);
      path.pop();
    }
    return Object.fromEntries(entries);
  } finally {
    ancestors.delete(value);
  }
}

/**
 * RFC 8785 canonical JSON of `value`. Throws `TypeError` on anything that is not I-JSON:
 * `undefined` (also as a member value), functions, bigint, symbols, non-finite numbers,
 * strings with lone surrogates, class instances (Date, Map, Buffer, ...), sparse arrays,
 * circular references.
 */
export function canonicalJson(value: unknown): string {
  const plain = snapshot(value, [], new Set());
  const out = canonicalize(plain);
  if (typeof out !== 'string') throw new TypeError('the value cannot be canonicalised');
  return out;
}

/** `pdg` of a v1 approval: base64url(SHA-256(UTF-8(canonicalJson(payload)))), 43 characters. */
export function payloadDigest(payload: unknown): string {
  return hash('sha256', canonicalJson(payload), 'base64url');
}
