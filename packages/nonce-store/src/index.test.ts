import { expect, it } from 'vitest';
import * as api from './index.js';

it('exposes exactly the documented public surface', () => {
  expect(Object.keys(api).sort()).toEqual(['StoreError', 'openExecutionStore', 'parseDatabaseUrl']);
});
