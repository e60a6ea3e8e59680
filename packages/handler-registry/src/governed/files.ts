import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { OutputFilesConfig } from './config.js';

export interface OutputFile {
  /** Path relative to the work dir, `/`-separated. */
  name: string;
  bytes: number;
  sha256: string;
  /** Present when the file fits the per-file and total caps. */
  base64?: string;
}

const MAX_DEPTH = 8;
const MAX_ENTRIES_SCANNED = 10_000;

/**
 * Collects the files a code run left in its work dir. The sandboxed code chose every name and
 * may have planted symlinks: symlinks are never followed (skipped at listing and refused by
 * O_NOFOLLOW at open), only regular files with an allowed extension are read.
 */
export async function collectOutputFiles(
  workDir: string,
  config: Readonly<OutputFilesConfig>,
  exclude: ReadonlySet<string>,
): Promise<OutputFile[]> {
  const candidates: string[] = [];
  let scanned = 0;
  const walk = async (relative: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    const entries = await readdir(path.join(workDir, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (++scanned > MAX_ENTRIES_SCANNED) return;
      const name = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) await walk(name, depth + 1);
      else if (
        entry.isFile() &&
        !exclude.has(name) &&
        config.extensions.includes(path.extname(entry.name).toLowerCase())
      ) {
        candidates.push(name);
      }
    }
  };
  await walk('', 0);
  candidates.sort();

  const files: OutputFile[] = [];
  let total = 0;
  for (const name of candidates.slice(0, config.maxFiles)) {
    const file = await readOutputFile(
      path.join(workDir, name),
      config.maxFileBytes,
      config.maxTotalBytes - total,
    );
    if (!file) continue;
    if (file.content) total += file.bytes;
    files.push({
      name,
      bytes: file.bytes,
      sha256: file.sha256,
      ...(file.content ? { base64: file.content.toString('base64') } : {}),
    });
  }
  return files;
}

async function readOutputFile(
  file: string,
  maxFileBytes: number,
  remaining: number,
): Promise<{ bytes: number; sha256: string; content: Buffer | null } | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return null;
    const hash = createHash('sha256');
    const keep = info.size <= maxFileBytes && info.size <= remaining;
    const kept: Buffer[] = [];
    let bytes = 0;
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      const part = chunk.subarray(0, bytesRead);
      hash.update(part);
      bytes += bytesRead;
      if (keep) kept.push(Buffer.from(part));
    }
    const fits = keep && bytes <= maxFileBytes && bytes <= remaining;
    return { bytes, sha256: hash.digest('hex'), content: fits ? Buffer.concat(kept) : null };
  } finally {
    await handle.close();
  }
}
