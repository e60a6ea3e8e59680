import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const execPath = process.env.npm_execpath;
const pnpm = execPath?.includes('pnpm') ? [process.execPath, execPath] : ['pnpm'];
const isRoot = process.getuid?.() === 0;
const NOBODY = 65_534;

function chmodTree(dir: string): void {
  // Read-only code directory: what the container runs with.
  execFileSync('chmod', ['-R', 'a-w', dir]);
}

describe('the pnpm deploy bundle the Dockerfile copies', () => {
  let root: string;
  let bundle: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'openexec-deploy-'));
    chmodSync(root, 0o755);
    bundle = join(root, 'app');
    execFileSync(
      pnpm[0] as string,
      [...pnpm.slice(1), '--filter', 'openexec-api', 'deploy', '--legacy', '--prod', bundle],
      {
        cwd: appDir,
        stdio: 'pipe',
        timeout: 240_000,
      },
    );
    chmodTree(bundle);
  }, 300_000);
  afterAll(() => {
    if (root) {
      execFileSync('chmod', ['-R', 'u+w', root]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('contains the entry point the Dockerfile runs', () => {
    const dockerfile = readFileSync(join(appDir, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('CMD ["node", "dist/main.js"]');
    expect(existsSync(join(bundle, 'dist', 'main.js'))).toBe(true);
  });

  it('starts from a clean directory, as a non-root user with a read-only code directory, serves, and stops on SIGTERM', async () => {
    const data = mkdtempSync(join(tmpdir(), 'openexec-data-'));
    chmodSync(data, 0o700);
    if (isRoot) chownSync(data, NOBODY, NOBODY);
    const child = spawn(process.execPath, [join(bundle, 'dist', 'main.js')], {
      cwd: data,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        PORT: '0',
        OPENEXEC_DB_URL: `sqlite:///${join(data, 'openexec.db')}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bundle did not start:\n${output}`)), 30_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = output.match(/"url":"(http:\/\/[^"]+)"/);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`bundle exited with ${code}:\n${output}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      expect((await fetch(`${url}/ready`)).status).toBe(200);
      const response = await fetch(`${url}/execute`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ action: 'add', payload: { a: 40, b: 2 }, nonce: 'bundle-1' }),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ result: { sum: 42 }, approved: true });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    rmSync(data, { recursive: true, force: true });
  });

  it('refuses to start with the image defaults (clawshield mode) and no approver keys', () => {
    const data = mkdtempSync(join(tmpdir(), 'openexec-data-'));
    let failure: { status: number | null; stderr: Buffer } | undefined;
    try {
      execFileSync(process.execPath, [join(bundle, 'dist', 'main.js')], {
        cwd: data,
        env: {
          PATH: process.env.PATH ?? '',
          HOST: '0.0.0.0',
          PORT: '0',
          OPENEXEC_MODE: 'clawshield',
          OPENEXEC_DB_URL: `sqlite:///${join(data, 'x.db')}`,
        },
        stdio: 'pipe',
        timeout: 30_000,
      });
    } catch (error) {
      failure = error as { status: number | null; stderr: Buffer };
    }
    rmSync(data, { recursive: true, force: true });
    expect(failure?.status).toBe(78);
    expect(failure?.stderr.toString()).toContain('CLAWSHIELD_TENANT_ID: required');
  });
});
