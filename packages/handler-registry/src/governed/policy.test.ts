import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { ArgvProfile } from './config.js';
import { checkArgv, checkEnv, pinCwd, resolveCwd } from './policy.js';

const profile: ArgvProfile = {
  minPositional: 1,
  maxPositional: 2,
  allowedValueFlags: ['--lines', '-n', '-name'],
  allowedFlags: ['-l', '-w', '--verbose'],
  deniedFlags: ['--exec', '-e', '-delete'],
};

const codeOf = (args: string[]) => checkArgv(profile, args)?.code ?? null;

describe('checkArgv', () => {
  it.each([
    [['file'], null],
    [['-l', 'file'], null],
    [['-lw', 'a', 'b'], null],
    [['--lines=5', 'a'], null],
    [['--lines', '5', 'a'], null],
    [['-n5', 'a'], null],
    [['-n', '5', 'a'], null],
    [['-ln', '5', 'a'], null],
    [['--lines=-5', 'a'], null],
    [['-name', 'x', 'a'], null],
    [['-', 'a'], null],
    [['--', '--exec', '-e'], null],
  ] as const)('accepts %j', (args, expected) => {
    expect(codeOf([...args])).toBe(expected);
  });

  it.each([
    [['--exec', 'a'], 'ERR_ARGV_DENIED_FLAG'],
    [['--exec=rm', 'a'], 'ERR_ARGV_DENIED_FLAG'],
    [['-e', 'a'], 'ERR_ARGV_DENIED_FLAG'],
    [['-le', 'a'], 'ERR_ARGV_DENIED_FLAG'],
    [['-delete', 'a'], 'ERR_ARGV_DENIED_FLAG'],
    [['--exe', 'a'], 'ERR_ARGV_UNKNOWN_FLAG'],
    [['-x', 'a'], 'ERR_ARGV_UNKNOWN_FLAG'],
    [['-lx', 'a'], 'ERR_ARGV_UNKNOWN_FLAG'],
    [['--verbose=yes', 'a'], 'ERR_ARGV_UNEXPECTED_VALUE'],
    [['a', '--lines'], 'ERR_ARGV_MISSING_VALUE'],
    [['--lines', '--exec', 'a'], 'ERR_ARGV_MISSING_VALUE'],
    [['-n', '-5', 'a'], 'ERR_ARGV_MISSING_VALUE'],
    [['a', 'b', 'c'], 'ERR_ARGV_TOO_MANY_POSITIONALS'],
    [['--', 'a', 'b', 'c'], 'ERR_ARGV_TOO_MANY_POSITIONALS'],
    [[], 'ERR_ARGV_TOO_FEW_POSITIONALS'],
    [['-l'], 'ERR_ARGV_TOO_FEW_POSITIONALS'],
  ] as const)('refuses %j with %s', (args, expected) => {
    expect(codeOf([...args])).toBe(expected);
  });

  it('never lets a denied flag through before "--", whatever surrounds it', () => {
    const token = fc.constantFrom('a', '-l', '-w', '--verbose', '--lines=3', '-n4', 'x y', '');
    fc.assert(
      fc.property(
        fc.array(token, { maxLength: 5 }),
        fc.constantFrom('--exec', '--exec=x', '-e', '-le'),
        (pre, bad) => {
          expect(codeOf([...pre, bad, 'a'])).toBe('ERR_ARGV_DENIED_FLAG');
        },
      ),
    );
  });

  it('never accepts a token that starts with "-" and is not listed, before "--"', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 8 }), (tail) => {
        const flag = `--${tail}`;
        fc.pre(!tail.includes('=') && !['lines', 'verbose', 'exec'].includes(tail) && tail !== '');
        const code = codeOf([flag, 'a']);
        expect(code).not.toBeNull();
      }),
    );
  });
});

describe('checkEnv', () => {
  it('accepts allowed names only', () => {
    expect(checkEnv(['LC_ALL'], { LC_ALL: 'C' })).toBeNull();
    expect(checkEnv(['LC_ALL'], { TZ: 'UTC' })?.code).toBe('ERR_ENV_FORBIDDEN');
    expect(checkEnv(null, { TZ: 'UTC' })?.code).toBe('ERR_ENV_FORBIDDEN');
  });

  it('refuses PATH and loader variables even when allowed', () => {
    for (const name of ['PATH', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'DYLD_INSERT_LIBRARIES', 'ld_preload']) {
      expect(checkEnv([name], { [name]: '/tmp/x' })?.code).toBe('ERR_ENV_FORBIDDEN');
    }
  });
});

describe('resolveCwd', () => {
  const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'openexec-cwd-')));
  mkdirSync(path.join(root, 'data', 'deep'), { recursive: true });
  symlinkSync('/etc', path.join(root, 'escape'));
  symlinkSync(path.join(root, 'data'), path.join(root, 'inside'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('resolves a subdirectory under the root', () => {
    expect(resolveCwd(root, 'data/deep')).toEqual({ ok: true, dir: path.join(root, 'data', 'deep') });
    expect(resolveCwd(root, undefined)).toEqual({ ok: true, dir: root });
    expect(resolveCwd(root, 'inside')).toEqual({ ok: true, dir: path.join(root, 'data') });
  });

  it.each([
    ['..', 'ERR_CWD_OUTSIDE_ROOT'],
    ['data/../../', 'ERR_CWD_OUTSIDE_ROOT'],
    ['/etc', 'ERR_CWD_OUTSIDE_ROOT'],
    ['escape', 'ERR_CWD_OUTSIDE_ROOT'],
    ['missing', 'ERR_CWD_NOT_FOUND'],
  ])('refuses %s with %s', (requested, code) => {
    const result = resolveCwd(root, requested);
    expect(result.ok ? null : result.violation.code).toBe(code);
  });

  it('refuses any cwd when the action has no root', () => {
    const result = resolveCwd(null, 'x');
    expect(result.ok ? null : result.violation.code).toBe('ERR_CWD_NOT_ALLOWED');
  });
});

describe('pinCwd', () => {
  const root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'openexec-pin-')));
  const outside = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'openexec-outside-')));
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('holds the directory that was checked, wherever its path leads afterwards', () => {
    mkdirSync(path.join(root, 'kept'));
    const checked = resolveCwd(root, 'kept');
    if (!checked.ok) throw new Error('expected the cwd to be accepted');
    const pinned = pinCwd(root, checked.dir);
    if (!pinned.ok) throw new Error('expected the cwd to be pinned');
    try {
      renameSync(path.join(root, 'kept'), path.join(root, 'moved'));
      symlinkSync(outside, path.join(root, 'kept'));
      expect(pinned.dir).toBe(path.join(root, 'kept'));
      // The descriptor still names the directory that was checked, now under its new name.
      expect(readdirSync(`/proc/self/fd/${pinned.fd}/..`)).toContain('moved');
    } finally {
      closeSync(pinned.fd);
    }
  });

  it('refuses a cwd swapped for a symlink out of the root after it was checked', () => {
    mkdirSync(path.join(root, 'swapped'));
    const checked = resolveCwd(root, 'swapped');
    if (!checked.ok) throw new Error('expected the cwd to be accepted');
    rmSync(path.join(root, 'swapped'), { recursive: true });
    symlinkSync(outside, path.join(root, 'swapped'));
    const pinned = pinCwd(root, checked.dir);
    expect(pinned.ok ? null : pinned.violation.code).toBe('ERR_CWD_OUTSIDE_ROOT');
  });

  it('refuses a cwd removed after it was checked', () => {
    mkdirSync(path.join(root, 'gone'));
    const checked = resolveCwd(root, 'gone');
    if (!checked.ok) throw new Error('expected the cwd to be accepted');
    rmSync(path.join(root, 'gone'), { recursive: true });
    const pinned = pinCwd(root, checked.dir);
    expect(pinned.ok ? null : pinned.violation.code).toBe('ERR_CWD_NOT_FOUND');
  });
});
