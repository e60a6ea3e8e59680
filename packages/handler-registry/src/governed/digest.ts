import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { RunAs } from './config.js';

/** SHA-256 (lowercase hex) of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Why an operator-pinned executable cannot be used, or null when it can: it must be an
 * absolute path to a regular file (not a symlink: the pin names exactly what runs) that the
 * sandbox user may execute.
 */
export async function executableProblem(file: string, runAs: Readonly<RunAs> | null): Promise<string | null> {
  if (!path.isAbsolute(file)) return `${file} is not an absolute path`;
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(file);
  } catch {
    return `${file} does not exist`;
  }
  if (info.isSymbolicLink()) {
    const target = await realpath(file).catch(() => null);
    return `${file} is a symlink${target ? ` to ${target}; configure that path instead` : ''}`;
  }
  if (!info.isFile()) return `${file} is not a regular file`;
  const mode = info.mode;
  const executable =
    runAs === null
      ? (mode & 0o111) !== 0
      : (mode & 0o001) !== 0 ||
        (info.uid === runAs.uid && (mode & 0o100) !== 0) ||
        (info.gid === runAs.gid && (mode & 0o010) !== 0);
  if (!executable) return `${file} is not executable${runAs ? ` by uid ${runAs.uid}` : ''}`;
  return null;
}
