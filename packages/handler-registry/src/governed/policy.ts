import { closeSync, constants, openSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ArgvProfile } from './config.js';
import { ENV_NAME, isForbiddenEnvName } from './config.js';
import type { GovernedInputErrorCode } from './errors.js';

/**
 * Request checks of a governed process action. Every argument, env name and cwd is
 * attacker-controlled (it comes from the agent): these run before the nonce is reserved (as
 * part of the zod input schema) and again right before the run.
 */
export interface PolicyViolation {
  code: GovernedInputErrorCode;
  message: string;
  /** Where in the input the problem is, for the zod issue. */
  path: (string | number)[];
}

function show(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/**
 * Checks request argv against the operator's profile with getopt semantics: `--name=value`,
 * `--name value`, `-x`, clustered `-xy`, `-nVALUE`; `--` ends flags; a lone `-` is a
 * positional. Unknown flags are refused, so abbreviations (`--exe` for `--exec`) never pass.
 * A separate value starting with `-` is refused (write `--lines=-5`): a program whose flag
 * takes an optional value would read it as another flag we never checked.
 */
export function checkArgv(profile: Readonly<ArgvProfile>, args: readonly string[]): PolicyViolation | null {
  const denied = new Set(profile.deniedFlags);
  const valued = new Set(profile.allowedValueFlags);
  const boolean = new Set(profile.allowedFlags);
  let positionals = 0;
  let flagsEnded = false;

  const takeSeparateValue = (flag: string, index: number): PolicyViolation | null => {
    const value = args[index + 1];
    if (value === undefined) {
      return { code: 'ERR_ARGV_MISSING_VALUE', message: `flag ${flag} needs a value`, path: ['args', index] };
    }
    if (value.startsWith('-')) {
      return {
        code: 'ERR_ARGV_MISSING_VALUE',
        message: `flag ${flag} needs a value; a value starting with "-" must be attached (${flag}=…)`,
        path: ['args', index + 1],
      };
    }
    return null;
  };

  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (flagsEnded || arg === '-' || !arg.startsWith('-')) {
      positionals++;
      continue;
    }
    if (arg === '--') {
      flagsEnded = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const hasInlineValue = eq !== -1;
    // A long flag, or a single-dash flag the operator listed whole (`-name` for find, `-jar`).
    if (
      arg.startsWith('--') ||
      (name.length > 2 && (denied.has(name) || valued.has(name) || boolean.has(name)))
    ) {
      if (denied.has(name)) {
        return {
          code: 'ERR_ARGV_DENIED_FLAG',
          message: `flag ${show(name)} is denied`,
          path: ['args', index],
        };
      }
      if (valued.has(name)) {
        if (!hasInlineValue) {
          const problem = takeSeparateValue(name, index);
          if (problem) return problem;
          index++;
        }
        continue;
      }
      if (boolean.has(name)) {
        if (hasInlineValue) {
          return {
            code: 'ERR_ARGV_UNEXPECTED_VALUE',
            message: `flag ${name} takes no value`,
            path: ['args', index],
          };
        }
        continue;
      }
      return {
        code: 'ERR_ARGV_UNKNOWN_FLAG',
        message: `flag ${show(name)} is not allowed`,
        path: ['args', index],
      };
    }
    // A cluster of short flags: `-lw`, `-n5`, `-n 5`.
    for (let at = 1; at < arg.length; at++) {
      const flag = `-${arg[at]}`;
      if (denied.has(flag)) {
        return {
          code: 'ERR_ARGV_DENIED_FLAG',
          message: `flag ${show(flag)} is denied`,
          path: ['args', index],
        };
      }
      if (valued.has(flag)) {
        if (at === arg.length - 1) {
          const problem = takeSeparateValue(flag, index);
          if (problem) return problem;
          index++;
        }
        break; // the rest of the token is the value
      }
      if (!boolean.has(flag)) {
        return {
          code: 'ERR_ARGV_UNKNOWN_FLAG',
          message: `flag ${show(flag)} is not allowed`,
          path: ['args', index],
        };
      }
    }
  }
  if (positionals > profile.maxPositional) {
    return {
      code: 'ERR_ARGV_TOO_MANY_POSITIONALS',
      message: `${positionals} positional arguments, at most ${profile.maxPositional} allowed`,
      path: ['args'],
    };
  }
  if (positionals < profile.minPositional) {
    return {
      code: 'ERR_ARGV_TOO_FEW_POSITIONALS',
      message: `${positionals} positional arguments, at least ${profile.minPositional} required`,
      path: ['args'],
    };
  }
  return null;
}

/** Env names the request sets must be allowed by the operator and never loader/PATH hooks. */
export function checkEnv(
  allow: readonly string[] | null,
  env: Readonly<Record<string, string>> | undefined,
): PolicyViolation | null {
  if (!env) return null;
  const allowed = new Set(allow ?? []);
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name) || isForbiddenEnvName(name)) {
      return {
        code: 'ERR_ENV_FORBIDDEN',
        message: `environment variable ${show(name)} may not be set`,
        path: ['env', name],
      };
    }
    if (!allowed.has(name)) {
      return {
        code: 'ERR_ENV_FORBIDDEN',
        message: `environment variable ${show(name)} is not in this action's allow-list`,
        path: ['env', name],
      };
    }
  }
  return null;
}

const CWD_NOT_FOUND: PolicyViolation = {
  code: 'ERR_CWD_NOT_FOUND',
  message: 'cwd is not an existing directory under the action root',
  path: ['cwd'],
};
const CWD_RESOLVES_OUTSIDE: PolicyViolation = {
  code: 'ERR_CWD_OUTSIDE_ROOT',
  message: 'cwd resolves outside the action root',
  path: ['cwd'],
};

export type CwdResolution = { ok: true; dir: string } | { ok: false; violation: PolicyViolation };

/**
 * Resolves the requested working directory under the operator's root with realpath, so a
 * symlink inside the root cannot lead outside it. `root` is itself a realpath (set at load).
 */
export function resolveCwd(root: string | null, requested: string | undefined): CwdResolution {
  if (root === null) {
    if (requested === undefined) return { ok: true, dir: '' };
    return {
      ok: false,
      violation: { code: 'ERR_CWD_NOT_ALLOWED', message: 'this action takes no cwd', path: ['cwd'] },
    };
  }
  if (requested === undefined || requested === '' || requested === '.') return { ok: true, dir: root };
  if (path.isAbsolute(requested)) {
    return {
      ok: false,
      violation: {
        code: 'ERR_CWD_OUTSIDE_ROOT',
        message: 'cwd must be relative to the action root',
        path: ['cwd'],
      },
    };
  }
  const candidate = path.resolve(root, requested);
  if (!isInside(candidate, root)) {
    return {
      ok: false,
      violation: { code: 'ERR_CWD_OUTSIDE_ROOT', message: 'cwd leaves the action root', path: ['cwd'] },
    };
  }
  let real: string;
  try {
    real = realpathSync(candidate);
    if (!statSync(real).isDirectory()) throw new Error('not a directory');
  } catch {
    return { ok: false, violation: CWD_NOT_FOUND };
  }
  if (!isInside(real, root)) {
    return { ok: false, violation: CWD_RESOLVES_OUTSIDE };
  }
  return { ok: true, dir: real };
}

export type PinnedCwd = { ok: true; fd: number; dir: string } | { ok: false; violation: PolicyViolation };

/**
 * Opens a directory resolveCwd accepted and checks where the open descriptor really is, which
 * a path swapped for a symlink since the check cannot change: the run mounts that descriptor,
 * not the path. The caller closes `fd`.
 */
export function pinCwd(root: string, dir: string): PinnedCwd {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return { ok: false, violation: CWD_NOT_FOUND };
  }
  let real: string | null = null;
  try {
    real = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    // No /proc: nothing to check the descriptor against.
  }
  if (real === null || !isInside(real, root)) {
    closeSync(fd);
    return { ok: false, violation: CWD_RESOLVES_OUTSIDE };
  }
  return { ok: true, fd, dir: real };
}

function isInside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === '/' ? '/' : `${parent}/`);
}
