import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(16 * 256);
let offset = pool.length;
let lastMs = 0;

/**
 * An RFC 9562 UUIDv7: 48 bits of Unix time in ms, then 74 random bits. Time-ordered ids make
 * each new execution row and index entry append at the end of its B-tree (one warm page per
 * batch) where a random UUIDv4 dirties a random page per row. The clock is never allowed to go
 * backwards within the process, so ids of one process sort by creation.
 */
export function uuidv7(now: number = Date.now()): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + 16);
  offset += 16;
  lastMs = Math.max(lastMs, Math.trunc(now));
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
