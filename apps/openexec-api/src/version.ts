import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export const VERSION: string = manifest.version;

/** Python's `datetime.utcnow().isoformat()`: naive UTC with microseconds. */
export function pythonUtcNow(now: Date = new Date()): string {
  return `${now.toISOString().slice(0, -1)}000`;
}
