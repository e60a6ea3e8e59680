import { MockError } from './errors.js';

/** The one-line warning `keygen` and `mint` print to stderr. */
export const DEV_ONLY_WARNING =
  'clawshield-mock: DEVELOPMENT ONLY - keys and approvals from this tool must never reach production';

/** Addresses `serve` may bind: loopback only, so nothing off this machine can mint approvals. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', '::1', 'localhost'];

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.includes(host);
}

/**
 * Refuses to serve where an approver that signs whatever it is asked would be dangerous: in a
 * production environment (NODE_ENV=production) or on an address reachable from other hosts.
 */
export function assertServeAllowed(env: NodeJS.ProcessEnv, host: string): void {
  if ((env.NODE_ENV ?? '').trim().toLowerCase() === 'production') {
    throw new MockError(
      'ERR_MOCK_UNSAFE',
      'refusing to start: NODE_ENV=production, and clawshield-mock is a development-only approver',
    );
  }
  if (!isLoopbackHost(host)) {
    throw new MockError(
      'ERR_MOCK_UNSAFE',
      `refusing to listen on ${host}: clawshield-mock binds only to loopback (${LOOPBACK_HOSTS.join(', ')})`,
    );
  }
}

/**
 * Host header names accepted by the HTTP server. Checking them defeats DNS rebinding: a web
 * page whose name resolves to 127.0.0.1 would otherwise be same-origin with the mock and
 * could read and approve requests.
 */
export function isLoopbackHostHeader(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const match = /^(\[::1\]|127\.0\.0\.1|localhost)(:\d{1,5})?$/i.exec(hostHeader);
  return match !== null;
}
