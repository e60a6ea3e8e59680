// Runs `prisma generate` for both schemas without any network access. Prisma's CLI insists on a
// schema-engine binary path even though generate never executes it; any existing executable
// satisfies that check, and node itself is always one.
//   node scripts/generate.mjs               always regenerates (the build)
//   node scripts/generate.mjs --if-missing  only when a client is absent (typecheck: it runs
//     beside the tests, and regenerating wipes the directory the tests are importing from)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const prismaCli = require.resolve('prisma/build/index.js');
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
const ifMissing = process.argv.includes('--if-missing');
for (const dialect of ['sqlite', 'postgresql']) {
  if (ifMissing && existsSync(new URL(`../src/generated/${dialect}/client.ts`, import.meta.url))) continue;
  execFileSync(
    process.execPath,
    [prismaCli, 'generate', '--schema', `../../prisma/${dialect}/schema.prisma`],
    {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}
