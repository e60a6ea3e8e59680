import { defineConfig } from 'vitest/config';

// One base every package extends, so timeouts and reporters stay uniform.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
