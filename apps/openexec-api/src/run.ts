import { ConfigError, isLoopback, loadConfig } from './config.js';
import { type StartOptions, startServer } from './server.js';

/**
 * The process contract operators rely on: parse the environment once (a bad value exits 78
 * naming the variable), listen on HOST:PORT, and on SIGTERM/SIGINT stop accepting, let
 * in-flight requests finish and exit 0.
 */
export async function runService(env: NodeJS.ProcessEnv, options: StartOptions = {}): Promise<void> {
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    const config = loadConfig(env);
    running = await startServer(config, options);
    log('info', 'openexec-api listening', {
      url: running.url,
      mode: config.mode,
      db: running.store.dialect,
      ...(running.approvalKeyIds ? { approval_key_ids: running.approvalKeyIds } : {}),
    });
    if (config.mode === 'demo') {
      log('warn', 'demo mode: actions run WITHOUT approvals; use OPENEXEC_MODE=clawshield in production');
      if (!isLoopback(config.host)) {
        log(
          'warn',
          `demo mode is listening on ${config.host} (OPENEXEC_ALLOW_INSECURE_DEMO): anyone who can reach it can execute actions`,
        );
      }
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: string }).code ?? 'ERR_STARTUP';
    console.error(`openexec-api: cannot start (${code}): ${message}`);
    process.exit(error instanceof ConfigError ? 78 : 1);
  }
  const stop = (signal: string) => {
    log('info', 'draining in-flight requests', { signal });
    running.shutdown().then(
      () => {
        log('info', 'stopped');
        process.exit(0);
      },
      (error) => {
        console.error('openexec-api: shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields }));
}
