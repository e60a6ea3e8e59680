/**
 * A byte-exact port of CPython 3's `json.dumps` for JSON-shaped values, used where the
 * Python service hashed `json.dumps(...)` output: the legacy `action_hash` and the legacy
 * receipt. Reference: CPython `Lib/json/encoder.py` (`py_encode_basestring_ascii`,
 * `ESCAPE_DCT`, `_make_iterencode`) and `float_repr` (`Python/pystrtod.c`, mode 'r').
 *
 * Known, unavoidable differences (JS cannot represent the Python distinction):
 * - JS has one number type. An integral number prints as a Python int (`1.0` -> `1`,
 *   `1e21` -> `1000000000000000000000`); Python would print a float `1.0` as `1.0`. A JSON
 *   document that spelled a number as `1.0` therefore hashes differently here. The one
 *   exception is `-0`, which no Python int can be: it prints as the float `-0.0`.
 * - Integers beyond 2^53 have already lost precision in a JS number; pass a `bigint` to get
 *   exact digits (`12345678901234567890n`).
 * - Without `sortKeys`, members come out in JS property order, which puts integer-like keys
 *   ("1", "2") first; Python keeps insertion order. With `sortKeys` (as every hash here
 *   uses) both agree.
 * Non-finite numbers are rejected (Python would emit the non-JSON `NaN` / `Infinity`).
 */

export interface PythonJsonDumpsOptions {
  /** `sort_keys`; default false. Sorts by Unicode code point, as Python compares `str`. */
  sortKeys?: boolean;
  /** `separators` (item, key); default `[', ', ': ']`. */
  separators?: readonly [string, string];
  /** `ensure_ascii`; default true. */
  ensureAscii?: boolean;
}

const SHORT_ESCAPES: Record<number, string> = {
  34: '\\"',
  92: '\\\\',
  8: '\\b',
  12: '\\f',
  10: '\\n',
  13: '\\r',
  9: '\\t',
};

function hex4(code: number): string {
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `py_encode_basestring_ascii` / `py_encode_basestring`. */
function encodeString(s: string, ensureAscii: boolean): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    // UTF-16 code units: an astral character is already the surrogate pair Python emits.
    const code = s.charCodeAt(i);
    const short = SHORT_ESCAPES[code];
    if (short !== undefined) out += short;
    else if (code < 0x20) out += hex4(code);
    else if (ensureAscii && code > 0x7e) out += hex4(code);
    else out += s[i];
  }
  return `${out}"`;
}

/** Compares strings by Unicode code point (Python `str` order), not by UTF-16 code unit. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Code-unit order equals code-point order unless a surrogate (0xD800-0xDFFF) is involved:
    // then compare whole code points (handles astral pairs and lone surrogates alike).
    const isSurrogate = (c: number) => c >= 0xd800 && c <= 0xdfff;
    if (!isSurrogate(x) && !isSurrogate(y)) return x - y;
    return compareCodePointArrays(Array.from(a), Array.from(b));
  }
  return a.length - b.length;
}

function compareCodePointArrays(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]?.codePointAt(0) ?? 0;
    const y = b[i]?.codePointAt(0) ?? 0;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

/**
 * CPython `float.__repr__`: shortest round-trip digits (the same digits as JS
 * `Number.prototype.toString`), fixed notation when -4 <= exponent < 16, otherwise
 * `d.ddde+XX` with at least two exponent digits; fixed notation always has a fraction.
 */
export function pythonFloatRepr(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError('non-finite numbers are not JSON');
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const js = String(Math.abs(value));
  // js is either "ddd.ddd" or "d.ddde[+-]x"
  const [mantissa = '', expText] = js.split('e');
  const [intPart = '', fracPart = ''] = mantissa.split('.');
  let digits = intPart + fracPart;
  let decpt = intPart.length + (expText === undefined ? 0 : Number(expText));
  const leading = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(leading);
  decpt -= leading;
  digits = digits.replace(/0+$/, '');
  // value = 0.<digits> * 10^decpt
  if (decpt <= -4 || decpt > 16) {
    const exp = decpt - 1;
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expAbs = String(Math.abs(exp)).padStart(2, '0');
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${expAbs}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

function encodeNumber(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError('non-finite numbers are not JSON');
  if (Object.is(value, -0)) return '-0.0';
  if (Number.isInteger(value)) return BigInt(value).toString();
  return pythonFloatRepr(value);
}

interface Ctx {
  sortKeys: boolean;
  itemSep: string;
  keySep: string;
  ensureAscii: boolean;
  ancestors: Set<object>;
}

const MAX_DEPTH = 128;

function encode(value: unknown, ctx: Ctx, depth: number): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return encodeString(value, ctx.ensureAscii);
  if (typeof value === 'number') return encodeNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object')
    throw new TypeError(`Object of type ${typeof value} is not JSON serializable`);
  if (depth >= MAX_DEPTH) throw new TypeError('value is nested too deeply');
  if (ctx.ancestors.has(value)) throw new TypeError('Circular reference detected');
  ctx.ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      if (value.length === 0) return '[]';
      const parts: string[] = [];
      for (let i = 0; i < value.length; i++) {
        if (!Object.hasOwn(value, i)) throw new TypeError('sparse arrays are not JSON serializable');
        parts.push(encode(value[i], ctx, depth + 1));
      }
      return `[${parts.join(ctx.itemSep)}]`;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError('only plain objects and arrays are JSON serializable');
    }
    const keys = Object.keys(value);
    if (keys.length === 0) return '{}';
    if (ctx.sortKeys) keys.sort(compareCodePoints);
    const record = value as Record<string, unknown>;
    const parts = keys.map(
      (key) => `${encodeString(key, ctx.ensureAscii)}${ctx.keySep}${encode(record[key], ctx, depth + 1)}`,
    );
    return `{${parts.join(ctx.itemSep)}}`;
  } finally {
    ctx.ancestors.delete(value);
  }
}

/** Python 3 `json.dumps(value, sort_keys=..., separators=..., ensure_ascii=...)`, byte for byte. */
export function pythonJsonDumps(value: unknown, options: PythonJsonDumpsOptions = {}): string {
  const [itemSep, keySep] = options.separators ?? [', ', ': '];
  if (typeof itemSep !== 'string' || typeof keySep !== 'string') {
    throw new TypeError('separators must be a pair of strings');
  }
  return encode(
    value,
    {
      sortKeys: options.sortKeys ?? false,
      itemSep,
      keySep,
      ensureAscii: options.ensureAscii ?? true,
      ancestors: new Set(),
    },
    0,
  );
}
