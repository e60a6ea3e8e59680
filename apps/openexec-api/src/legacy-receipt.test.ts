import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { legacyReceipt, pythonResultJson, verifyLegacyReceipt } from './legacy-receipt.js';

const python = spawnSync('python3', ['-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8' });
const hasPython = python.status === 0 && python.stdout.trim() === '3';
if (!hasPython)
  console.warn('python3 not found: the differential test against CPython json.dumps is skipped');

const results: unknown[] = [
  { echo: { msg: 'hello' } },
  { sum: 30 },
  { sum: 2.5 },
  {
    echo: {
      b: [1, 2, { z: null, a: true }],
      a: 'héllo wörld',
      emoji: '😀',
      cjk: '汉字',
      ctrl: '\u0001\t\n\u007f',
      quote: '"\\/',
    },
  },
  { echo: {} },
  { echo: { nested: { deeper: { deepest: [[], {}, [0.1, 1e-7, 123456.789]] } } } },
  { sum: -0.5 },
  { echo: { '\u00e9': 1, e: 2, 'e\u0301': 3, '😀': 4, '\uffff': 5 } },
];

describe('the legacy receipt', () => {
  it.skipIf(!hasPython)(
    'matches CPython json.dumps(result, sort_keys=True) and hashlib byte for byte',
    () => {
      const id = '5b0f0a7e-1111-4c3c-9a51-000000000000';
      const script =
        'import sys, json, hashlib\n' +
        'for line in sys.stdin:\n' +
        '    r = json.loads(line)\n' +
        '    s = json.dumps(r, sort_keys=True)\n' +
        `    print(json.dumps([s, hashlib.sha256(("${id}:" + s).encode()).hexdigest()]))\n`;
      const stdout = execFileSync('python3', ['-c', script], {
        input: results.map((r) => JSON.stringify(r)).join('\n'),
        encoding: 'utf8',
      });
      const expected = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as [string, string]);
      results.forEach((result, index) => {
        const [pythonJson, pythonHash] = expected[index] as [string, string];
        expect(pythonResultJson(result)).toBe(pythonJson);
        expect(legacyReceipt(id, pythonResultJson(result))).toBe(pythonHash);
      });
    },
  );

  it('verifies only the exact triple', () => {
    const receipt = legacyReceipt('id-1', '{"sum": 3}');
    expect(verifyLegacyReceipt('id-1', '{"sum": 3}', receipt)).toBe(true);
    expect(verifyLegacyReceipt('id-2', '{"sum": 3}', receipt)).toBe(false);
    expect(verifyLegacyReceipt('id-1', '{"sum":3}', receipt)).toBe(false);
    expect(verifyLegacyReceipt('id-1', '{"sum": 3}', receipt.toUpperCase())).toBe(false);
    expect(verifyLegacyReceipt('id-1', '{"sum": 3}', 'short')).toBe(false);
  });
});
