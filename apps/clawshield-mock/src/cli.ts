#!/usr/bin/env node
import { runCli } from './run-cli.js';

const result = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});

if (result.exitCode !== null) {
  process.exitCode = result.exitCode;
} else {
  const { server } = result;
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
