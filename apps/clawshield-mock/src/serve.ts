import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMockApp } from './http.js';
import type { Approver } from './mint.js';
import { ApprovalQueue } from './queue.js';
import { assertServeAllowed } from './safety.js';

export const DEFAULT_PORT = 5100;
export const DEFAULT_HOST = '127.0.0.1';

export interface ServeOptions {
  approver: Approver;
  /** Loopback only (127.0.0.1, ::1, localhost). Default 127.0.0.1. */
  host?: string;
  /** Default 5100; 0 picks a free port. */
  port?: number;
  /** Checked for NODE_ENV=production. Default process.env. */
  env?: NodeJS.ProcessEnv;
  csrfToken?: string;
}

export interface RunningMock {
  readonly url: string;
  readonly server: Server;
  readonly queue: ApprovalQueue;
  close(): Promise<void>;
}

/** Starts the HTTP approver after the safety checks (MockError ERR_MOCK_UNSAFE when refused). */
export async function startMockServer(options: ServeOptions): Promise<RunningMock> {
  const host = options.host ?? DEFAULT_HOST;
  assertServeAllowed(options.env ?? process.env, host);
  const queue = new ApprovalQueue(options.approver);
  const app = createMockApp({
    approver: options.approver,
    queue,
    ...(options.csrfToken === undefined ? {} : { csrfToken: options.csrfToken }),
  });
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${shown}:${address.port}`,
    server,
    queue,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
