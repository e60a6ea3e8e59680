import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const prisma = new URL('../../../prisma/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, prisma), 'utf8');

/** The model blocks, whitespace-normalised: everything but the datasource and generator. */
function models(schema: string): string {
  return [...schema.matchAll(/^model \w+ \{[\s\S]*?^\}/gm)]
    .map((m) => m[0].replace(/[ \t]+/g, ' '))
    .join('\n');
}

describe('the Prisma schemas', () => {
  it('declare identical models for SQLite and PostgreSQL', () => {
    const sqlite = models(read('sqlite/schema.prisma'));
    expect(sqlite).toContain('model Execution');
    expect(models(read('postgresql/schema.prisma'))).toBe(sqlite);
  });

  it('have the same migrations, by name, for both databases', () => {
    const names = (dialect: string) => readdirSync(new URL(`${dialect}/migrations/`, prisma)).sort();
    expect(names('postgresql')).toEqual(names('sqlite'));
  });

  it('create and drop the same indexes, in the same migrations, for both databases', () => {
    const indexes = (dialect: string) =>
      readdirSync(new URL(`${dialect}/migrations/`, prisma))
        .sort()
        .map((name) => [
          name,
          [
            ...read(`${dialect}/migrations/${name}/migration.sql`).matchAll(
              /(CREATE (?:UNIQUE )?INDEX|DROP INDEX) "(\w+)"/g,
            ),
          ].map((m) => `${m[1]} ${m[2]}`),
        ]);
    expect(indexes('postgresql')).toEqual(indexes('sqlite'));
    expect(indexes('sqlite').flatMap(([, list]) => list)).toContain(
      'CREATE INDEX executions_reserved_lease_idx',
    );
  });

  it('create every mapped table and column in the migrations', () => {
    for (const dialect of ['sqlite', 'postgresql']) {
      const sql = readdirSync(new URL(`${dialect}/migrations/`, prisma))
        .map((name) => read(`${dialect}/migrations/${name}/migration.sql`))
        .join('\n');
      const schema = read(`${dialect}/schema.prisma`);
      for (const [, table] of schema.matchAll(/@@map\("(\w+)"\)/g))
        expect(sql).toContain(`CREATE TABLE "${table}"`);
      for (const [, column] of schema.matchAll(/@map\("(\w+)"\)/g)) expect(sql).toContain(`"${column}"`);
    }
  });
});
