import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { StoreError } from './errors.js';
import { PrismaClient as PostgresClient } from './generated/postgresql/client.js';
import { PrismaClient as SqliteClient } from './generated/sqlite/client.js';
import type { DatabaseLocation } from './url.js';

/** The part of a Prisma client (or transaction client) the store uses for raw SQL. */
export interface RawSql {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

/** Both generated clients have identical models (a test checks the schemas), so one type serves. */
export type ModelClient = Pick<
  InstanceType<typeof SqliteClient>,
  'execution' | 'approvalUse' | 'receipt' | 'checkpoint' | 'signingKey'
>;

export interface Database {
  readonly dialect: 'sqlite' | 'postgresql';
  readonly raw: RawSql;
  readonly models: ModelClient;
  /** Placeholder for the 1-based parameter `index`, with a type cast where PostgreSQL needs one. */
  param(index: number, cast?: 'bigint' | 'int'): string;
  transaction<T>(fn: (tx: RawSql) => Promise<T>): Promise<T>;
  /**
   * Runs fixed statements in one transaction (Prisma's array transaction). Cheaper than an
   * interactive transaction (measured 1.7 ms vs 2.6 ms for a 16-request batch on SQLite) when
   * no statement depends on an earlier one's result.
   */
  batch(statements: ReadonlyArray<{ sql: string; values: unknown[] }>): Promise<unknown[][]>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** How long a writer waits for another process's lock (SQLite busy timeout). */
  busyTimeoutMs: number;
  /** Upper bound of one transaction. */
  transactionTimeoutMs: number;
  poolSize: number;
}

export async function openDatabase(
  location: DatabaseLocation,
  options: OpenDatabaseOptions,
): Promise<Database> {
  if (location.dialect === 'sqlite') {
    const client = new SqliteClient({
      adapter: new PrismaBetterSqlite3({ url: `file:${location.file}`, timeout: options.busyTimeoutMs }),
    });
    try {
      // WAL lets readers proceed during a write; synchronous=FULL fsyncs the WAL on every
      // commit so that a 2xx answer means the record survives power loss.
      await client.$queryRawUnsafe('PRAGMA journal_mode = WAL');
      await client.$executeRawUnsafe('PRAGMA synchronous = FULL');
      await client.$executeRawUnsafe(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
      await client.$executeRawUnsafe('PRAGMA foreign_keys = ON');
    } catch (error) {
      await client.$disconnect().catch(() => {});
      throw new StoreError('ERR_STORE_UNAVAILABLE', `cannot open SQLite database ${location.file}`, {
        cause: error,
      });
    }
    return wrap('sqlite', client as unknown as PrismaLike, () => '?', options);
  }
  const client = new PostgresClient({
    adapter: new PrismaPg({
      connectionString: location.url,
      max: options.poolSize,
      connectionTimeoutMillis: 5_000,
    }),
  });
  return wrap(
    'postgresql',
    client as unknown as PrismaLike,
    (index, cast) => (cast ? `$${index}::${cast}` : `$${index}`),
    options,
  );
}

interface PrismaLike extends RawSql, ModelClient {
  $transaction(queries: Promise<unknown>[]): Promise<unknown[]>;
  $transaction<T>(
    fn: (tx: RawSql) => Promise<T>,
    options?: { maxWait?: number; timeout?: number },
  ): Promise<T>;
  $disconnect(): Promise<void>;
}

function wrap(
  dialect: Database['dialect'],
  client: PrismaLike,
  param: Database['param'],
  options: OpenDatabaseOptions,
): Database {
  return {
    dialect,
    raw: client,
    models: client,
    param,
    transaction: (fn) =>
      client.$transaction(fn, { maxWait: options.busyTimeoutMs, timeout: options.transactionTimeoutMs }),
    batch: async (statements) => {
      const queries = statements.map(({ sql, values }) => client.$queryRawUnsafe<unknown[]>(sql, ...values));
      return (await client.$transaction(queries)) as unknown[][];
    },
    close: () => client.$disconnect(),
  };
}
