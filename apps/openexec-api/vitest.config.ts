import { mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.ts';

export default mergeConfig(shared, {
  test: {
    // These tests start API processes (several per test in the exactly-once suite): 8 – 16 s
    // each on a CI machine loaded by the other packages' tests. The limit is a hang guard only.
    testTimeout: 120_000,
  },
});
