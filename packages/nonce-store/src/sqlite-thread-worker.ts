// The SQLite write thread: one connection, opened by Prisma's better-sqlite3 driver adapter.
// Every batch the store sends is sealed here (receipts continue this thread's own committed
// head, so the chain needs no guessing) and written as one BEGIN IMMEDIATE … COMMIT, strictly
// in the order the batches arrive. Started by SqliteThread.
import { parentPort, workerData } from 'node:worker_threads';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { loadReceiptSealer, receiptsByOp, sealBatch } from './batch.js';
import { type SqliteBatchOp, SqliteBatchWriter, type SqliteConnection } from './sqlite-batch.js';
import type { SqliteThreadData, SqliteThreadReply, SqliteThreadRequest } from './sqlite-thread.js';
import type { SealedReceipt } from './types.js';

const { file, busyTimeoutMs, selectRecord, sealer: sealerModule } = workerData as SqliteThreadData;
const port = parentPort;
if (!port) throw new Error('sqlite-thread-worker runs as a worker thread');

async function open() {
  const adapter = await new PrismaBetterSqlite3({ url: `file:${file}`, timeout: busyTimeoutMs }).connect();
  const connection = (
    adapter as unknown as {
      client: SqliteConnection & { pragma(sql: string, options?: { simple: boolean }): unknown };
    }
  ).client;
  try {
    // Per connection: every commit fsyncs the WAL, so an acknowledged write survives power loss.
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = FULL');
    connection.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    connection.pragma('foreign_keys = ON');
    connection.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_FRAMES}`);
    // Fail closed: no batch is written unless every commit is fsynced to a WAL.
    const journal = connection.pragma('journal_mode', { simple: true });
    const synchronous = connection.pragma('synchronous', { simple: true });
    if (journal !== 'wal' || Number(synchronous) !== 2) {
      throw new Error(`SQLite settings not in effect (journal_mode=${journal}, synchronous=${synchronous})`);
    }
    const sealer = sealerModule ? await loadReceiptSealer(sealerModule) : null;
    const writer = new SqliteBatchWriter(connection, selectRecord);
    const storedHead = () => (sealer ? writer.storedHead(sealer.chain) : null);
    return { writer, sealer, storedHead, head: storedHead() };
  } catch (error) {
    await adapter.dispose();
    throw error;
  }
}

// Checkpoints. SQLite's automatic checkpoint runs inside the commit that takes the WAL past
// 1,000 frames: that batch's answer, and every batch queued behind it, waits the ~4 ms the copy
// and the database file's fsync take. This thread checkpoints instead once it has answered and
// written everything that had arrived (setImmediate runs after the pending messages), every
// CHECKPOINT_EVERY_OPS operations: the batch that crossed the mark is answered first, and the
// copy is small (a batch arriving meanwhile still waits for it). p99 at 32 connections was
// 0.4 – 6.6 ms lower in nine of nine alternating runs (docs/performance.md). SQLite's own
// checkpoint stays, at a higher mark (about 16 MB of WAL), in case these cannot keep up.
const CHECKPOINT_EVERY_OPS = 128;
const BACKSTOP_CHECKPOINT_FRAMES = 4_000;
let writtenSinceCheckpoint = 0;
let checkpointScheduled = false;

function checkpointWhenIdle(writer: SqliteBatchWriter): void {
  if (checkpointScheduled) return;
  checkpointScheduled = true;
  setImmediate(() => {
    checkpointScheduled = false;
    writtenSinceCheckpoint = 0;
    try {
      writer.checkpoint();
    } catch {
      // Nothing is lost: SQLite counts pages as copied only after the database file's fsync, so
      // they stay in the WAL, readable, until a later checkpoint (or SQLite's own) copies them.
    }
  });
}

// Opened with the first batch; if that fails (the database may be unreachable for a while),
// each later batch tries again.
let opened: ReturnType<typeof open> | null = null;
const connected = () => {
  opened ??= open().catch((error: unknown) => {
    opened = null;
    throw error;
  });
  return opened;
};
port.on('message', async (request: SqliteThreadRequest) => {
  let reply: SqliteThreadReply;
  try {
    const state = await connected();
    const sealed = sealBatch(state.sealer, state.head, request.ops);
    const receiptOf = receiptsByOp(request.ops, sealed);
    const ops = request.ops.map((op, index): SqliteBatchOp => {
      if (op.kind === 'reserve') return op;
      if (op.kind === 'complete')
        return { kind: 'complete', request: op.request, receipt: receiptOf[index] ?? null };
      return { kind: 'record', receipt: receiptOf[index] as SealedReceipt };
    });
    try {
      const results = state.writer.write(ops, {
        ...request.context,
        receipts: sealed,
        sealedFrom: state.head,
      });
      const last = sealed.at(-1);
      if (last) state.head = { seq: last.seq, hash: last.hash };
      reply = { id: request.id, results, sealed };
      writtenSinceCheckpoint += ops.length;
      if (writtenSinceCheckpoint >= CHECKPOINT_EVERY_OPS) checkpointWhenIdle(state.writer);
    } catch (error) {
      // Another writer appended to this chain (two processes with one instance id): continue
      // from what is stored; the store retries the batch.
      if ((error as { code?: unknown }).code === 'ERR_STALE_CHAIN_HEAD') state.head = state.storedHead();
      throw error;
    }
  } catch (error) {
    const { message, code } = error as { message?: string; code?: unknown };
    reply = {
      id: request.id,
      error: { message: message ?? String(error), ...(typeof code === 'string' ? { code } : {}) },
    };
  }
  port.postMessage(reply);
});
