// The migrator reads SQL files at run time; ship them inside dist so a `pnpm deploy` bundle
// (which has no access to the repository's prisma/ folder) can migrate its database.
import { cpSync, rmSync } from 'node:fs';

for (const dialect of ['sqlite', 'postgresql']) {
  const target = `dist/migrations/${dialect}`;
  rmSync(target, { recursive: true, force: true });
  cpSync(`../../prisma/${dialect}/migrations`, target, { recursive: true });
}
