#!/usr/bin/env node
// Operator commands against the execution store (reads OPENEXEC_DB_URL like the service).
//   openexec-admin indeterminate
//   openexec-admin resolve --tenant T --nonce N --as failed|succeeded --operator NAME [--note TEXT]
//   openexec-admin purge --older-than-hours H
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type ExecutionRecord, openExecutionStore, parseDatabaseUrl } from '@openexec/nonce-store';
import { APPROVAL_FORGET_MARGIN_MS } from './server.js';

const USAGE = `usage:
  openexec-admin indeterminate
  openexec-admin resolve --tenant T --nonce N --as failed|succeeded --operator NAME [--note TEXT]
  openexec-admin purge --older-than-hours H
environment: OPENEXEC_DB_URL (default sqlite:///openexec.db)`;

/** Exit code 2 is a usage error (the usage follows the message); 1 is a refusal. */
function fail(message: string, code = 2): never {
  console.error(`openexec-admin: ${message}${code === 2 ? `\n${USAGE}` : ''}`);
  process.exit(code);
}

/** The body replays of a resolved execution answer with; the result itself is unknown. */
function resolutionResponse(
  record: ExecutionRecord,
  state: 'succeeded' | 'failed',
  operator: string,
  note: string | null,
) {
  const body = {
    id: record.id,
    action: record.action,
    result: null,
    approved: true,
    status: state,
    nonce: record.nonce,
    resolved_by: operator,
    ...(note ? { resolution_note: note } : {}),
    ...(state === 'failed'
      ? {
          detail: 'the execution was interrupted and an operator resolved it as failed',
          code: 'resolved_failed',
        }
      : {}),
  };
  return { responseStatus: state === 'succeeded' ? 200 : 502, responseBody: JSON.stringify(body) };
}

const COMMANDS = new Set(['indeterminate', 'resolve', 'purge']);

function parseOptions(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        tenant: { type: 'string' },
        nonce: { type: 'string' },
        as: { type: 'string' },
        operator: { type: 'string' },
        note: { type: 'string' },
        'older-than-hours': { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}

/** Decimal digits only: Number() reads '' and ' ' as 0 (purge everything) and '0x10' as 16. */
function purgeHours(given: string | undefined): number {
  if (given === undefined || !/^\d+(\.\d+)?$/.test(given)) {
    return fail('--older-than-hours must be a number of hours, such as 720');
  }
  return Number(given);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // Usage errors first: they need no database.
  if (!command || !COMMANDS.has(command))
    fail(command ? `unknown command ${command}` : 'a command is required');
  const values = parseOptions(rest);
  if (command === 'purge') purgeHours(values['older-than-hours']);
  const url = process.env.OPENEXEC_DB_URL ?? 'sqlite:///openexec.db';
  const location = parseDatabaseUrl(url);
  // Opening a mistyped path would create an empty database and report no indeterminate
  // executions, which reads like "nothing to do".
  if (location.dialect === 'sqlite' && !existsSync(location.file)) {
    fail(
      `no database at ${location.file} (check OPENEXEC_DB_URL; relative paths start at ${process.cwd()})`,
      1,
    );
  }
  const store = await openExecutionStore({
    url,
    // A distinct owner: opening the store must not mark the service's own reservations.
    owner: `openexec-admin:${process.pid}`,
    leaseMs: 60_000,
  });
  try {
    switch (command) {
      case 'indeterminate': {
        for (const record of await store.listIndeterminate(1000)) {
          console.log(
            JSON.stringify({
              tenant: record.tenant,
              nonce: record.nonce,
              id: record.id,
              action: record.action,
              owner: record.owner,
              created_at: new Date(record.createdAt).toISOString(),
            }),
          );
        }
        return;
      }
      case 'resolve': {
        const { tenant, nonce, as: state, operator } = values;
        if (!tenant || !nonce || !operator) fail('resolve needs --tenant, --nonce and --operator');
        if (state !== 'failed' && state !== 'succeeded') fail('--as must be failed or succeeded');
        const record = await store.lookup(tenant, nonce);
        if (record?.state !== 'indeterminate')
          fail(`no indeterminate execution for tenant ${tenant}, nonce ${nonce}`, 1);
        const resolved = await store.resolve({
          tenant,
          nonce,
          state,
          operator,
          ...resolutionResponse(record, state, operator, values.note ?? null),
        });
        if (!resolved) fail('the execution changed meanwhile; look again', 1);
        console.log(JSON.stringify({ resolved: true, id: resolved.id, state: resolved.state }));
        return;
      }
      case 'purge': {
        const hours = purgeHours(values['older-than-hours']);
        const now = Date.now();
        console.log(
          JSON.stringify(
            await store.purge({
              completedBefore: now - hours * 3600_000,
              approvalsExpiredBefore: now - APPROVAL_FORGET_MARGIN_MS,
            }),
          ),
        );
        return;
      }
    }
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`openexec-admin: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
