import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import supertest from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { runsIn, untilRunning } from './test-support/handlers.js';
import { spawnService } from './test-support/process.js';

describe('SIGTERM', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('lets in-flight requests finish, refuses nothing half-done, and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'openexec-sigterm-'));
    dirs.push(dir);
    const runs = join(dir, 'runs.log');
    const service = await spawnService({
      OPENEXEC_DB_URL: `sqlite:///${join(dir, 'db.sqlite')}`,
      TEST_RUNS_FILE: runs,
    });
    const http = supertest(service.url);
    const inFlight = Array.from({ length: 5 }, (_, i) =>
      http
        .post('/execute')
        .send({ action: 'count', payload: { delayMs: 700 }, nonce: `drain-${i}` })
        .then((r) => r),
    );
    await untilRunning(runs, 'drain-0', 'drain-1', 'drain-2', 'drain-3', 'drain-4');
    service.child.kill('SIGTERM');
    const responses = await Promise.all(inFlight);
    for (const response of responses) expect(response.status).toBe(200);
    expect(await service.exited).toBe(0);
    expect(runsIn(runs).sort()).toEqual(['drain-0', 'drain-1', 'drain-2', 'drain-3', 'drain-4']);
    expect(service.output()).toContain('draining in-flight requests');
  });
});
