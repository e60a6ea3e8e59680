import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Handler } from '@openexec/handler-registry';
import supertest from 'supertest';
import { loadConfig } from '../config.js';
import { createLogger } from '../observability.js';
import { type RunningServer, startServer } from '../server.js';

export interface TestServer extends RunningServer {
  dir: string;
  /** Every log line the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  http: ReturnType<typeof supertest>;
  close(): Promise<void>;
}

/** A real server on an ephemeral port with its own SQLite file. */
export async function startTestServer(
  env: Record<string, string> = {},
  handlers: Handler[] = [],
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'openexec-api-'));
  const config = loadConfig({ PORT: '0', OPENEXEC_DB_URL: `sqlite:///${join(dir, 'openexec.db')}`, ...env });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const running = await startServer(config, { handlers, logger: createLogger(sink) });
  return Object.assign(running, {
    dir,
    logs,
    http: supertest(running.url),
    close: async () => {
      await running.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
