// The package must work on its own: `npm install` of its tarball into an empty project outside
// the workspace, then the public API and the installed CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_DIR, requireBuiltCli } from './test-support/cli.js';

const SCRIPT = `
import { writeFileSync } from 'node:fs';
import {
  createReceiptSigner, generateSigningKey, nextReceipt, receiptHash, verifyChain, tweetnaclBackend,
} from '@openexec/receipts';
import * as portable from '@openexec/receipts/portable';

const signer = createReceiptSigner(generateSigningKey().privateKeyPem);
const chain = [];
let head = null;
for (const outcome of ['succeeded', 'failed', 'replay_denied']) {
  const receipt = signer.sign(nextReceipt(head, 'replica-1', {
    exec_id: 'e-' + chain.length, tenant: 'acme', nonce: 'n-' + chain.length, action: 'echo',
    request_digest: 'sha256:abc', approval: null, mode: 'demo', outcome,
    result_digest: null, error_code: outcome === 'failed' ? 'E_HANDLER' : null, isolation: null, run: null,
    created_at: new Date(),
  }));
  chain.push(receipt);
  head = { seq: receipt.seq, hash: receiptHash(receipt) };
}
const keys = { keys: [signer.publicJwk] };
const checkpoint = signer.signCheckpoint({ chain: 'replica-1', seq: head.seq, head: head.hash });
writeFileSync('chain.jsonl', chain.map((r) => JSON.stringify(r)).join('\\n') + '\\n');
writeFileSync('keys.json', JSON.stringify(keys));
writeFileSync('checkpoint.json', JSON.stringify(checkpoint));
const node = verifyChain(chain, keys, { checkpoint });
const nacl = verifyChain(chain, keys, { checkpoint, backend: tweetnaclBackend });
const viaPortable = portable.verifyChain(chain.slice(0, 2), keys, { checkpoint });
console.log(JSON.stringify({
  node: node.valid, nacl: nacl.valid, head: node.head,
  portableCodes: viaPortable.problems.map((p) => p.code),
}));
`;

let dir: string;
let tarball: string;

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'openexec-receipts-install-'));
  const packDir = join(dir, 'pack');
  execFileSync('pnpm', ['pack', '--pack-destination', packDir], { cwd: PACKAGE_DIR, stdio: 'pipe' });
  const [file] = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  if (file === undefined) throw new Error('pnpm pack produced no tarball');
  tarball = join(packDir, file);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the build, README and package.json, and no tests', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(listing).toContain('package/dist/index.js');
    expect(listing).toContain('package/dist/portable.js');
    expect(listing).toContain('package/dist/cli.js');
    expect(listing).toContain('package/README.md');
    expect(listing.filter((f) => /test|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs with npm outside the workspace, signs and verifies a chain, and runs its CLI', () => {
    const project = join(dir, 'consumer');
    rmSync(project, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', project]);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    const install = spawnSync('npm', ['install', tarball, '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: project,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(install.stderr.replace(/npm warn Unknown user config.*\n?/g, '')).toBe('');
    expect(install.status).toBe(0);

    writeFileSync(join(project, 'check.mjs'), SCRIPT);
    const script = spawnSync(process.execPath, ['check.mjs'], { cwd: project, encoding: 'utf8' });
    expect(script.stderr).toBe('');
    const output = JSON.parse(script.stdout) as {
      node: boolean;
      nacl: boolean;
      head: { seq: number; hash: string };
      portableCodes: string[];
    };
    expect(output).toMatchObject({
      node: true,
      nacl: true,
      head: { seq: 3 },
      portableCodes: ['ERR_CHAIN_TRUNCATED'],
    });

    const cli = spawnSync(
      join(project, 'node_modules', '.bin', 'openexec-receipts'),
      ['verify', 'chain.jsonl', '--keys', 'keys.json', '--checkpoint', 'checkpoint.json'],
      { cwd: project, encoding: 'utf8' },
    );
    expect(cli.stdout).toBe(`OK 3 receipts, head seq 3 ${output.head.hash}\n`);
    expect(cli.status).toBe(0);
  }, 180_000);
});
