import { isAbsolute, resolve } from 'node:path';
import { StoreError } from './errors.js';

export type DatabaseLocation = { dialect: 'sqlite'; file: string } | { dialect: 'postgresql'; url: string };

/**
 * Parses OPENEXEC_DB_URL. Accepts the SQLAlchemy forms the Python service documented
 * (`sqlite:///relative.db`, `sqlite:////absolute.db`), `file:` URLs and `postgresql://` /
 * `postgres://`. Relative SQLite paths resolve against `cwd`.
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseLocation {
  const trimmed = url.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    return { dialect: 'postgresql', url: trimmed };
  }
  let path: string | undefined;
  if (trimmed.startsWith('sqlite:///')) {
    // sqlite:///x.db -> "x.db" (relative); sqlite:////x.db -> "/x.db" (absolute)
    path = trimmed.slice('sqlite:///'.length);
  } else if (trimmed.startsWith('sqlite://')) {
    throw new StoreError(
      'ERR_STORE_URL_INVALID',
      'sqlite URLs take no host: use sqlite:///relative.db or sqlite:////absolute.db',
    );
  } else if (trimmed.startsWith('file://')) {
    path = decodeURIComponent(new URL(trimmed).pathname);
  } else if (trimmed.startsWith('file:')) {
    path = trimmed.slice('file:'.length);
  } else {
    throw new StoreError(
      'ERR_STORE_URL_INVALID',
      'database URL must start with sqlite:///, file: or postgresql://',
    );
  }
  path = path.split('?')[0] ?? '';
  if (path === '' || path === ':memory:') {
    // An in-memory database forgets every nonce on restart: replay protection would be a lie.
    throw new StoreError(
      'ERR_STORE_URL_INVALID',
      'an SQLite database needs a file path (in-memory databases are not durable)',
    );
  }
  return { dialect: 'sqlite', file: isAbsolute(path) ? path : resolve(cwd, path) };
}
