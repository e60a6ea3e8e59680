// Pins the public surface of both entries, so an accidental export is noticed, and keeps the
// portable entry free of node:* imports (it is what browser/edge bundlers get).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as nodeEntry from './index.js';
import * as portableEntry from './portable.js';

const PORTABLE_EXPORTS = [
  'CHECKPOINT_SIGNING_PREFIX',
  'CHECKPOINT_VERSION',
  'RECEIPT_GENESIS_PREFIX',
  'RECEIPT_HASH_PREFIX',
  'RECEIPT_MODES',
  'RECEIPT_OUTCOMES',
  'RECEIPT_SIGNING_PREFIX',
  'RECEIPT_VERSION',
  'ReceiptError',
  'canonicalJson',
  'checkpointSigningMessage',
  'createChainVerifier',
  'formatProblem',
  'genesisHash',
  'jwkThumbprint',
  'nextReceipt',
  'parseCheckpoint',
  'parseReceipt',
  'parseReceiptBody',
  'receiptHash',
  'receiptSigningMessage',
  'tweetnaclBackend',
  'verifyChain',
  'verifyCheckpoint',
  'verifyReceipt',
];
const NODE_ONLY_EXPORTS = [
  'createChainSealer',
  'createReceiptSigner',
  'generateSigningKey',
  'nodeCryptoBackend',
];

const here = dirname(fileURLToPath(import.meta.url));

/** Every module specifier reachable from `entry` through relative imports. */
function importGraph(entry: string): { files: string[]; external: Set<string> } {
  const files: string[] = [];
  const external = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.includes(file)) continue;
    files.push(file);
    const source = readFileSync(join(here, file), 'utf8');
    for (const match of source.matchAll(/^(?:import|export)\b[^;]*?from\s+'([^']+)'/gms)) {
      const specifier = match[1]!;
      if (specifier.startsWith('./')) pending.push(specifier.slice(2).replace(/\.js$/, '.ts'));
      else external.add(specifier);
    }
  }
  return { files, external };
}

describe('public API', () => {
  it('the portable entry exports exactly the verification surface', () => {
    expect(Object.keys(portableEntry).sort()).toEqual([...PORTABLE_EXPORTS].sort());
  });

  it('the node entry exports the same plus signing and the node:crypto backend', () => {
    expect(Object.keys(nodeEntry).sort()).toEqual([...PORTABLE_EXPORTS, ...NODE_ONLY_EXPORTS].sort());
  });

  it('defaults to node:crypto in the node entry and tweetnacl in the portable entry', () => {
    // Both answer identically; the default is visible through the backend each entry binds.
    const { receipts, jwks } = (() => {
      const signer = nodeEntry.createReceiptSigner(nodeEntry.generateSigningKey().privateKeyPem);
      const body = nodeEntry.nextReceipt(null, 'c', {
        exec_id: null,
        tenant: 't',
        nonce: 'n',
        action: 'echo',
        request_digest: 'd',
        approval: null,
        mode: 'demo',
        outcome: 'succeeded',
        result_digest: null,
        error_code: null,
        isolation: null,
        run: null,
        created_at: new Date(0),
      });
      return { receipts: [signer.sign(body)], jwks: { keys: [signer.publicJwk] } };
    })();
    expect(portableEntry.verifyChain(receipts, jwks).valid).toBe(true);
    expect(portableEntry.receiptHash(receipts[0]!)).toBe(nodeEntry.receiptHash(receipts[0]!));
  });

  it('the portable entry reaches no node:* module and only tweetnacl and canonicalize', () => {
    const { files, external } = importGraph('portable.ts');
    expect(files).not.toContain('backend-node.ts');
    expect(files).not.toContain('signer.ts');
    expect([...external].sort()).toEqual(['canonicalize', 'tweetnacl']);
  });

  it('package.json sends browser and edge bundlers to the portable build', () => {
    const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as {
      exports: Record<string, Record<string, unknown>>;
      bin: Record<string, string>;
    };
    const root = pkg.exports['.']!;
    for (const condition of ['browser', 'worker', 'workerd', 'edge-light']) {
      expect(root[condition]).toEqual({ types: './dist/portable.d.ts', default: './dist/portable.js' });
    }
    expect(Object.keys(root).slice(-2)).toEqual(['types', 'default']);
    expect(root.default).toBe('./dist/index.js');
    expect(pkg.bin).toEqual({ 'openexec-receipts': './dist/cli.js' });
  });
});
