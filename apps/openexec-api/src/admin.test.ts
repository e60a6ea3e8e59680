import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The operator's journeys (list, resolve, purge) run in exactly-once.test.ts against a real
// interrupted execution; these are the refusals.
const adminScript = fileURLToPath(new URL('./admin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'openexec-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function admin(url: string, args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', adminScript, ...args], {
    env: { ...process.env, OPENEXEC_DB_URL: url },
    encoding: 'utf8',
  });
}

describe('openexec-admin', () => {
  it('refuses a SQLite path where no database exists, and creates none', () => {
    const missing = join(dir, 'typo.db');
    const run = admin(`sqlite:///${missing}`, ['indeterminate']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`no database at ${missing}`);
    expect(run.stderr).not.toContain('usage:');
    expect(run.stdout).toBe('');
    expect(existsSync(missing)).toBe(false);
  });

  it('answers usage errors with exit code 2 and the usage, before looking for a database', () => {
    const url = `sqlite:///${join(dir, 'unused.db')}`;
    for (const [args, message] of [
      [['frobnicate'], 'unknown command frobnicate'],
      [[], 'a command is required'],
      [['purge', '--older-than-days', '3'], "Unknown option '--older-than-days'"],
      // Number('') is 0: an empty value would have cleared every stored response.
      [['purge', '--older-than-hours', ''], '--older-than-hours must be a number of hours'],
      [['purge', '--older-than-hours', ' '], '--older-than-hours must be a number of hours'],
      [['purge', '--older-than-hours', '0x10'], '--older-than-hours must be a number of hours'],
      [['purge'], '--older-than-hours must be a number of hours'],
    ] as const) {
      const run = admin(url, [...args]);
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(message);
      expect(run.stderr).toContain('usage:');
    }
  });
});
