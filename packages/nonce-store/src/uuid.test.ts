import { describe, expect, it } from 'vitest';
import { uuidv7 } from './uuid.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the RFC 9562 version 7 layout with the time in its first 48 bits', () => {
    const at = Date.UTC(2026, 10, 22, 6, 0, 0, 123);
    const id = uuidv7(at);
    expect(id).toMatch(V7);
    expect(Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)).toBe(at);
  });

  it('gives distinct ids that sort by creation, even when the clock steps back', () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => uuidv7(1_800_000_000_000 - (i % 7)));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(V7);
    const prefixes = ids.map((id) => id.slice(0, 13));
    expect([...prefixes].sort()).toEqual(prefixes);
  });
});
