import canonicalizeImport from 'canonicalize';

type Canonicalize = (input: unknown) => string | undefined;
// canonicalize ships CommonJS with an ESM-style `export default` declaration. Node's default
// import yields the function itself; some bundlers hand back `{ default: fn }`. Accept both.
const canonicalizeModule = canonicalizeImport as unknown as Canonicalize | { default: Canonicalize };
const canonicalize: Canonicalize =
  typeof canonicalizeModule === 'function' ? canonicalizeModule : canonicalizeModule.default;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isWellFormedString(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/**
 * RFC 8785 (JCS) canonical JSON, by the reference implementation `canonicalize`.
 *
 * `canonicalize` follows JSON.stringify's leniency (drops `undefined`, calls `toJSON`, turns
 * functions in arrays into null). Here anything that is not plain I-JSON data is a programming
 * error and throws TypeError naming the path: what gets signed must be exactly what a verifier
 * re-derives from the parsed JSON text.
 */
export function canonicalJson(value: unknown): string {
  assertJsonValue(value, '$', new Set());
  const out = canonicalize(value);
  if (out === undefined) throw new TypeError('$: not a JSON value');
  return out;
}

function assertJsonValue(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      if (!isWellFormedString(value)) throw new TypeError(`${path}: string contains a lone surrogate`);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not a JSON number`);
      return;
    case 'object': {
      if (value === null) return;
      if (ancestors.has(value)) throw new TypeError(`${path}: circular reference`);
      ancestors.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => {
          assertJsonValue(item, `${path}[${i}]`, ancestors);
        });
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new TypeError(
            `${path}: only plain objects are JSON (got ${proto?.constructor?.name ?? 'object'})`,
          );
        }
        for (const key of Object.keys(value)) {
          if (!isWellFormedString(key)) throw new TypeError(`${path}: key contains a lone surrogate`);
          assertJsonValue((value as Record<string, unknown>)[key], `${path}.${key}`, ancestors);
        }
      }
      ancestors.delete(value);
      return;
    }
    default:
      throw new TypeError(`${path}: ${typeof value} is not a JSON value`);
  }
}

export type JsonParseResult = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * JSON.parse that also rejects duplicate object keys. JSON.parse keeps the last of duplicate
 * keys while other parsers keep the first, so `{"outcome":"failed","outcome":"succeeded"}`
 * would verify here and read differently elsewhere; such text is refused outright.
 */
export function parseJsonText(text: string): JsonParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: `not valid JSON (${(error as Error).message})` };
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) return { ok: false, message: `duplicate key "${duplicate}"` };
  return { ok: true, value };
}

/** Scans text that JSON.parse already accepted; returns the first key repeated within one object. */
function findDuplicateKey(text: string): string | null {
  if (text.indexOf('{') < 0) return null;
  type Frame = { keys: Set<string> | null; expectKey: boolean };
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      stack.push({ keys: new Set(), expectKey: true });
    } else if (c === 0x5b /* [ */) {
      stack.push({ keys: null, expectKey: false });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return null;
}
