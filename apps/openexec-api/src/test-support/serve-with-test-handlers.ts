// A real service process with the test-only counting handler, started through the production
// entry path (runService). Used by the shutdown and crash tests.
import { runService } from '../run.js';
import { countingHandler } from './handlers.js';

const runs = process.env.TEST_RUNS_FILE;
if (!runs) throw new Error('TEST_RUNS_FILE is required');
void runService(process.env, { handlers: [countingHandler(runs)] });
