// Child process for multi-process tests: opens the store (migrating it) and reports readiness.
import { openExecutionStore } from '../store.js';

const [url, owner] = process.argv.slice(2);
const store = await openExecutionStore({ url: url as string, owner: owner as string, leaseMs: 60_000 });
process.stdout.write(JSON.stringify(await store.ping()));
await store.close();
