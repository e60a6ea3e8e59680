import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database, RawSql } from './database.js';
import { StoreError } from './errors.js';

export interface Migration {
  name: string;
  checksum: string;
  statements: string[];
}

const here = dirname(fileURLToPath(import.meta.url));

/** Built packages carry their migrations in dist/migrations; in the repository they live in prisma/. */
export function migrationsDirectory(dialect: Database['dialect']): string {
  const candidates = [
    join(here, 'migrations', dialect),
    join(here, '..', '..', '..', 'prisma', dialect, 'migrations'),
  ];
  const found = candidates.find((dir) => existsSync(dir));
  if (!found) {
    throw new StoreError(
      'ERR_STORE_MIGRATION_FAILED',
      `no migrations found (looked in ${candidates.join(', ')})`,
    );
  }
  return found;
}

export function loadMigrations(directory: string): Migration[] {
  return readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(directory, name, 'migration.sql'), 'utf8');
      return {
        name,
        checksum: createHash('sha256').update(sql).digest('hex'),
        // Statements end with ";" at the end of a line; migrations keep semicolons out of literals.
        statements: sql
          .split(/;\s*(?:\r?\n|$)/)
          .map((statement) => statement.trim())
          .filter((statement) => statement.replace(/--.*$/gm, '').trim() !== ''),
      };
    });
}

const MIGRATIONS_TABLE = '_openexec_migrations';
// Any constant works; it only has to be the same in every process migrating this database.
const POSTGRES_MIGRATION_LOCK = 7_020_415_001;

const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" ("name" TEXT PRIMARY KEY, "checksum" TEXT NOT NULL, "applied_at" BIGINT NOT NULL)`;

/**
 * Applies pending migrations in one transaction, recorded in `_openexec_migrations`. Safe when
 * several processes start at once: SQLite serialises writers on the database lock, PostgreSQL
 * on an advisory transaction lock; the loser sees the winner's records and applies nothing.
 * A recorded migration whose file changed stops start-up rather than guessing.
 */
export async function migrate(
  db: Database,
  migrations: Migration[] = loadMigrations(migrationsDirectory(db.dialect)),
): Promise<string[]> {
  // SQLite's lock statement below needs the table; concurrent creates there wait on the file
  // lock. PostgreSQL creates it under the advisory lock instead (takeMigrationLock).
  if (db.dialect === 'sqlite') await db.raw.$executeRawUnsafe(CREATE_MIGRATIONS_TABLE);
  return db.transaction(async (tx) => {
    await takeMigrationLock(db, tx);
    const rows = await tx.$queryRawUnsafe<Array<{ name: string; checksum: string }>>(
      `SELECT "name", "checksum" FROM "${MIGRATIONS_TABLE}"`,
    );
    const applied = new Map(rows.map((row) => [row.name, row.checksum]));
    const done: string[] = [];
    for (const migration of migrations) {
      const checksum = applied.get(migration.name);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new StoreError(
            'ERR_STORE_MIGRATION_MODIFIED',
            `migration ${migration.name} was changed after it was applied to this database`,
          );
        }
        continue;
      }
      for (const statement of migration.statements) {
        await tx.$executeRawUnsafe(statement);
      }
      await tx.$executeRawUnsafe(
        `INSERT INTO "${MIGRATIONS_TABLE}" ("name", "checksum", "applied_at") VALUES (${db.param(1)}, ${db.param(2)}, ${db.param(3, 'bigint')})`,
        migration.name,
        migration.checksum,
        Date.now(),
      );
      done.push(migration.name);
    }
    return done;
  });
}

async function takeMigrationLock(db: Database, tx: RawSql): Promise<void> {
  if (db.dialect === 'postgresql') {
    await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK})`);
    // Only under the lock: two sessions running CREATE TABLE IF NOT EXISTS at once can both
    // miss the other's uncommitted table, and one fails on pg_type's unique index.
    await tx.$executeRawUnsafe(CREATE_MIGRATIONS_TABLE);
  } else {
    // A write as the first statement upgrades SQLite's deferred transaction to the write lock
    // (waiting up to busy_timeout), so two starting processes migrate one after the other.
    await tx.$executeRawUnsafe(`UPDATE "${MIGRATIONS_TABLE}" SET "name" = "name" WHERE 0 = 1`);
  }
}

/** Names of migrations not yet applied (used by readiness checks). */
export async function pendingMigrations(
  db: Database,
  migrations: Migration[] = loadMigrations(migrationsDirectory(db.dialect)),
): Promise<string[]> {
  const rows = await db.raw.$queryRawUnsafe<Array<{ name: string }>>(
    `SELECT "name" FROM "${MIGRATIONS_TABLE}"`,
  );
  const applied = new Set(rows.map((row) => row.name));
  return migrations.filter((migration) => !applied.has(migration.name)).map((migration) => migration.name);
}
