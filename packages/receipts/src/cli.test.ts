import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createReceiptSigner,
  generateSigningKey,
  nextReceipt,
  receiptHash,
  type SignedReceipt,
} from './index.js';
import { fields } from './test-support/chain.js';
import { requireBuiltCli, runCli } from './test-support/cli.js';

const N = 10_000;
let dir: string;
let lines: string[];
let receipts: SignedReceipt[];
let headHash: string;
const path = (name: string) => join(dir, name);

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'openexec-receipts-cli-'));
  const signer = createReceiptSigner(generateSigningKey().privateKeyPem);
  receipts = [];
  let head: { seq: number; hash: string } | null = null;
  for (let i = 1; i <= N; i++) {
    const r = signer.sign(nextReceipt(head, 'replica-a', fields(i)));
    receipts.push(r);
    head = { seq: r.seq, hash: receiptHash(r) };
  }
  headHash = head!.hash;
  lines = receipts.map((r) => JSON.stringify(r));
  writeFileSync(path('chain.jsonl'), `${lines.join('\n')}\n`);
  writeFileSync(path('keys.json'), JSON.stringify({ keys: [signer.publicJwk] }));
  writeFileSync(
    path('checkpoint.json'),
    JSON.stringify(signer.signCheckpoint({ chain: 'replica-a', seq: N, head: headHash })),
  );
  writeFileSync(path('receipt.json'), JSON.stringify(receipts[41], null, 2));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('openexec-receipts verify', () => {
  it(`verifies a ${N.toLocaleString('en')}-receipt chain against its checkpoint and exits 0`, () => {
    const run = runCli([
      'verify',
      path('chain.jsonl'),
      '--keys',
      path('keys.json'),
      '--checkpoint',
      path('checkpoint.json'),
    ]);
    console.log(
      `openexec-receipts verify: ${N} receipts in ${run.ms.toFixed(0)} ms (node:crypto, process start included)`,
    );
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(`OK ${N} receipts, head seq ${N} ${headHash}\n`);
    expect(run.status).toBe(0);
  });

  it('names the seq of one edited line and exits 1', () => {
    const edited = [...lines];
    edited[1233] = JSON.stringify({ ...receipts[1233], outcome: 'failed' });
    writeFileSync(path('edited.jsonl'), `${edited.join('\n')}\n`);
    const run = runCli(['verify', path('edited.jsonl'), '--keys', path('keys.json')]);
    expect(run.stdout).toBe(
      'seq 1234: ERR_RECEIPT_SIGNATURE_INVALID: signature does not match (receipt edited or signed by another key)\n',
    );
    expect(run.status).toBe(1);
  });

  it('names a removed receipt and a cut tail', () => {
    writeFileSync(path('cut.jsonl'), `${[...lines.slice(0, 99), ...lines.slice(100, 5000)].join('\n')}\n`);
    const run = runCli([
      'verify',
      path('cut.jsonl'),
      '--keys',
      path('keys.json'),
      '--checkpoint',
      path('checkpoint.json'),
    ]);
    expect(run.stdout.split('\n').filter(Boolean)).toEqual([
      'seq 100: ERR_CHAIN_GAP: missing: the chain jumps from seq 99 to seq 101 (receipt removed)',
      'seq 5001: ERR_CHAIN_TRUNCATED: the chain ends at seq 5000 but the checkpoint covers seq 10000 (5000 newest receipts cut off)',
    ]);
    expect(run.status).toBe(1);
  });

  it('verifies with tweetnacl when asked (--impl tweetnacl)', () => {
    writeFileSync(path('short.jsonl'), `${lines.slice(0, 20).join('\n')}\n`);
    const run = runCli(['verify', path('short.jsonl'), '--keys', path('keys.json'), '--impl', 'tweetnacl']);
    expect(run.stdout).toBe(`OK 20 receipts, head seq 20 ${receiptHash(receipts[19]!)}\n`);
    expect(run.status).toBe(0);
  });

  it('names the line of a corrupt line', () => {
    writeFileSync(path('corrupt.jsonl'), `${lines[0]}\n{"v":\n${lines[2]}\n`);
    const run = runCli(['verify', path('corrupt.jsonl'), '--keys', path('keys.json')]);
    expect(run.stdout).toMatch(/^line 2: ERR_RECEIPT_MALFORMED: not valid JSON/);
    expect(run.status).toBe(1);
  });

  it.each([
    ['no command', []],
    ['an unknown command', ['check']],
    ['no --keys', ['verify', 'chain.jsonl']],
    ['two chain files', ['verify', 'a.jsonl', 'b.jsonl', '--keys', 'k.json']],
    ['an unknown option', ['verify', 'chain.jsonl', '--keys', 'k.json', '--fast']],
    ['an unknown implementation', ['verify', 'chain.jsonl', '--keys', 'k.json', '--impl', 'wasm']],
    ['a missing chain file', ['verify', 'missing.jsonl', '--keys', 'KEYS']],
    ['a missing key file', ['verify', 'CHAIN', '--keys', 'missing.json']],
  ])('exits 2 with usage for %s', (_name, args) => {
    const resolved = args.map((a) =>
      a === 'KEYS' ? path('keys.json') : a === 'CHAIN' ? path('chain.jsonl') : a,
    );
    const run = runCli(resolved, { cwd: dir });
    expect(run.stderr).toContain('Usage:');
    expect(run.stdout).toBe('');
    expect(run.status).toBe(2);
  });

  it('exits 2 for a key set that is not usable', () => {
    writeFileSync(path('bad-keys.json'), JSON.stringify({ keys: [{ kty: 'RSA' }] }));
    const run = runCli(['verify', path('chain.jsonl'), '--keys', path('bad-keys.json')]);
    expect(run.stderr).toContain('only kty "OKP" with crv "Ed25519" is supported');
    expect(run.status).toBe(2);
  });
});

describe('openexec-receipts show', () => {
  it('pretty-prints a receipt file with its hash', () => {
    const run = runCli(['show', path('receipt.json')]);
    expect(run.stdout).toContain('"seq": 42,');
    expect(run.stdout).toContain(`hash ${receiptHash(receipts[41]!)}\n`);
    expect(run.status).toBe(0);
  });

  it('reads stdin and checks the signature with --keys', () => {
    const run = runCli(['show', '-', '--keys', path('keys.json')], { input: lines[6] });
    expect(run.stdout).toContain(`hash ${receiptHash(receipts[6]!)}\nsignature OK`);
    expect(run.status).toBe(0);
  });

  it('exits 1 with the problem for an edited receipt', () => {
    const run = runCli(['show', '-', '--keys', path('keys.json')], {
      input: JSON.stringify({ ...receipts[6], tenant: 'x' }),
    });
    expect(run.stdout).toContain('seq 7: ERR_RECEIPT_SIGNATURE_INVALID');
    expect(run.status).toBe(1);
  });
});
