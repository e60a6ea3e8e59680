import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(PACKAGE_DIR, 'dist', 'cli.js');

/** The CLI tests run the built CLI; turbo's test task depends on build. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) {
    throw new Error(
      `dist/cli.js is missing: build first with \`pnpm --filter @openexec/receipts build\` (turbo runs build before test)`,
    );
  }
}

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runCli(args: string[], options: { input?: string; cwd?: string } = {}): CliRun {
  const started = performance.now();
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? PACKAGE_DIR,
    input: options.input,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    ms: performance.now() - started,
  };
}
