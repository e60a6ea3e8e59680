/**
 * Minimal Ed25519 point arithmetic (RFC 8032 §5.1.3 decoding, affine addition) used only to
 * vet configured public keys: a key that is not a canonical curve point, or that has small
 * order (8·A = identity), is refused. With a small-order key, a forger needs no private key
 * at all (for S = 0 the verification equation is satisfied by one of 8 points R with
 * probability 1/8), and Ed25519 libraries disagree on whether to accept such keys.
 * Not constant time: it only ever sees public keys.
 */

const P = 2n ** 255n - 19n;

function mod(a: bigint): bigint {
  const r = a % P;
  return r >= 0n ? r : r + P;
}

function pow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function inv(a: bigint): bigint {
  return pow(a, P - 2n);
}

const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

type Point = readonly [x: bigint, y: bigint];

/** Decodes a 32-byte encoding; undefined when it is not a canonical point on the curve. */
export function decodePoint(bytes: Uint8Array): Point | undefined {
  if (bytes.length !== 32) return undefined;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i] ?? 0);
  const sign = y >> 255n;
  y &= (1n << 255n) - 1n;
  if (y >= P) return undefined;
  const y2 = mod(y * y);
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) {
    // x is a root
  } else if (vx2 === mod(-u)) {
    x = mod(x * SQRT_M1);
  } else {
    return undefined;
  }
  if (x === 0n && sign === 1n) return undefined;
  if ((x & 1n) !== sign) x = mod(-x);
  return [x, y];
}

function add(a: Point, b: Point): Point {
  const [x1, y1] = a;
  const [x2, y2] = b;
  const t = mod(D * x1 * x2 * y1 * y2);
  const x3 = mod((x1 * y2 + y1 * x2) * inv(1n + t));
  const y3 = mod((y1 * y2 + x1 * x2) * inv(1n - t));
  return [x3, y3];
}

/** True when the 32-byte encoding is not a usable Ed25519 public key (off-curve, non-canonical or small order). */
export function isWeakOrInvalidPublicKey(bytes: Uint8Array): boolean {
  const point = decodePoint(bytes);
  if (point === undefined) return true;
  let q = point;
  for (let i = 0; i < 3; i++) q = add(q, q);
  return q[0] === 0n && q[1] === 1n;
}
