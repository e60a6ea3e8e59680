import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repeatsMemberName } from './body.js';

describe('repeatsMemberName', () => {
  it.each([
    ['at the top', '{"action":"echo","action":"add"}'],
    ['in a nested object', '{"payload":{"x":{"a":1,"b":2,"a":3}}}'],
    ['in an object inside an array', '{"p":[1,{"k":1,"k":2}]}'],
    ['spelled with an escape', '{"a":1,"\\u0061":2}'],
    ['after a string value holding quotes and braces', '{"a":"\\"},{\\"a\\":","a":2}'],
  ])('finds a repeated name %s', (_label, text) => {
    expect(repeatsMemberName(text)).toBe(true);
  });

  it.each([
    ['the same name in sibling objects', '{"a":{"k":1},"b":{"k":2}}'],
    ['a name repeated as a value', '{"a":"a","b":["a","a"]}'],
    ['names in an array of objects', '[{"k":1},{"k":2}]'],
    ['text that is not JSON', '{"a":'],
  ])('finds none in %s', (_label, text) => {
    expect(repeatsMemberName(text)).toBe(false);
  });

  it('agrees with JSON.parse on every JSON text without repeats (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(repeatsMemberName(JSON.stringify(value))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
