import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from './url.js';

describe('parseDatabaseUrl', () => {
  const cases: Array<[string, ReturnType<typeof parseDatabaseUrl>]> = [
    ['sqlite:///openexec.db', { dialect: 'sqlite', file: '/srv/app/openexec.db' }],
    ['sqlite:///data/openexec.db', { dialect: 'sqlite', file: '/srv/app/data/openexec.db' }],
    ['sqlite:////var/lib/openexec/db.sqlite', { dialect: 'sqlite', file: '/var/lib/openexec/db.sqlite' }],
    ['file:openexec.db', { dialect: 'sqlite', file: '/srv/app/openexec.db' }],
    ['file:./x/openexec.db', { dialect: 'sqlite', file: '/srv/app/x/openexec.db' }],
    ['file:/abs/openexec.db', { dialect: 'sqlite', file: '/abs/openexec.db' }],
    ['file:///abs/open%20exec.db', { dialect: 'sqlite', file: '/abs/open exec.db' }],
    ['postgresql://u@127.0.0.1:5432/db', { dialect: 'postgresql', url: 'postgresql://u@127.0.0.1:5432/db' }],
    ['postgres://u@h/db', { dialect: 'postgresql', url: 'postgres://u@h/db' }],
  ];
  for (const [url, expected] of cases) {
    it(`reads ${url}`, () => {
      expect(parseDatabaseUrl(url, '/srv/app')).toEqual(expected);
    });
  }

  for (const url of [
    'mysql://x',
    'sqlite://host/x.db',
    'sqlite:///:memory:',
    'file::memory:',
    'sqlite:///',
    'openexec.db',
  ]) {
    it(`refuses ${url} with ERR_STORE_URL_INVALID`, () => {
      expect(() => parseDatabaseUrl(url, '/srv/app')).toThrow(
        expect.objectContaining({ code: 'ERR_STORE_URL_INVALID' }),
      );
    });
  }
});
