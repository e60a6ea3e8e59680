#!/usr/bin/env node
// openexec-receipts: offline verification of exported receipt chains.
// Exit codes: 0 valid, 1 not valid (problems printed), 2 usage error (bad arguments,
// unreadable file, unusable key set).

import { createReadStream, readFileSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { CryptoBackend } from './backend.js';
import { tweetnaclBackend } from './backend.js';
import { nodeCryptoBackend } from './backend-node.js';
import { canonicalJson, parseJsonText } from './canonical-json.js';
import { computeReceiptHash } from './chain.js';
import { formatProblem, ReceiptError } from './errors.js';
import type { Jwks } from './keys.js';
import { ChainVerifier, verifyReceiptWith } from './verify.js';

const USAGE = `Usage:
  openexec-receipts verify <chain.jsonl> --keys <jwks.json> [--checkpoint <checkpoint.json>]
                    [--anchor <receipt.json>] [--chain <id>] [--impl node|tweetnacl]
  openexec-receipts show <receipt.json|-> [--keys <jwks.json>]
  openexec-receipts --help | --version

verify  checks every signature, key validity window and hash link of a JSONL chain (one
        receipt per line); with --checkpoint/--anchor it also detects a cut or rewritten tail.
        Prints "OK <n> receipts, head seq <s> <hash>" (exit 0) or one line per problem (exit 1).
show    pretty-prints one receipt and its hash; with --keys also checks its signature.
`;

class UsageError extends Error {}

function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const parsed = parseJsonText(text);
  if (!parsed.ok) throw new UsageError(`${what} ${path}: ${parsed.message}`);
  return parsed.value;
}

/** Evidence files (checkpoint, anchor) are passed as text: a corrupt one is a finding, not a usage error. */
function readEvidenceFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

function pickBackend(impl: string | undefined): CryptoBackend {
  if (impl === undefined || impl === 'node') return nodeCryptoBackend;
  if (impl === 'tweetnacl') return tweetnaclBackend;
  throw new UsageError(`--impl must be "node" or "tweetnacl" (got "${impl}")`);
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      keys: { type: 'string' },
      checkpoint: { type: 'string' },
      anchor: { type: 'string' },
      chain: { type: 'string' },
      impl: { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('verify takes exactly one chain file');
  if (values.keys === undefined) throw new UsageError('verify needs --keys <jwks.json>');
  const chainPath = positionals[0]!;
  const backend = pickBackend(values.impl);
  const keys = readJsonFile(values.keys, 'key set') as Jwks;

  let verifier: ChainVerifier;
  try {
    verifier = new ChainVerifier(keys, backend, {
      ...(values.chain === undefined ? {} : { chain: values.chain }),
      ...(values.checkpoint === undefined
        ? {}
        : { checkpoint: readEvidenceFile(values.checkpoint, 'checkpoint') }),
      ...(values.anchor === undefined ? {} : { anchor: readEvidenceFile(values.anchor, 'anchor') }),
    });
  } catch (error) {
    if (error instanceof ReceiptError && error.code === 'ERR_JWKS_INVALID') {
      throw new UsageError(`key set ${values.keys}: ${error.message}`);
    }
    throw error;
  }

  try {
    await access(chainPath);
  } catch (error) {
    throw new UsageError(`cannot read chain ${chainPath}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  // Streamed line by line: an exported chain can be large.
  const lines = createInterface({
    input: createReadStream(chainPath, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    verifier.add(line, lineNo);
  }
  const result = verifier.finish();
  if (result.valid && result.head !== null) {
    out(`OK ${result.count} receipts, head seq ${result.head.seq} ${result.head.hash}`);
    return 0;
  }
  for (const problem of result.problems) out(formatProblem(problem));
  return 1;
}

async function readInput(path: string): Promise<string> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read receipt ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

async function showCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { keys: { type: 'string' }, impl: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('show takes exactly one receipt file, or - for stdin');
  const backend = pickBackend(values.impl);
  const keys: Jwks =
    values.keys === undefined ? { keys: [] } : (readJsonFile(values.keys, 'key set') as Jwks);
  const text = await readInput(positionals[0]!);
  let result: ReturnType<typeof verifyReceiptWith>;
  try {
    result = verifyReceiptWith(backend, text.trim(), keys);
  } catch (error) {
    if (error instanceof ReceiptError && error.code === 'ERR_JWKS_INVALID') {
      throw new UsageError(`key set ${values.keys}: ${error.message}`);
    }
    throw error;
  }
  if (result.receipt === null) {
    for (const problem of result.problems) out(formatProblem(problem));
    return 1;
  }
  out(JSON.stringify(JSON.parse(canonicalJson(result.receipt)), null, 2));
  out(`hash ${computeReceiptHash(backend.sha256, result.receipt)}`);
  if (values.keys === undefined) {
    out('signature not checked (pass --keys <jwks.json>)');
    return 0;
  }
  if (result.valid) {
    out(`signature OK (key ${result.receipt.signer_kid})`);
    return 0;
  }
  for (const problem of result.problems) out(formatProblem(problem));
  return 1;
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'verify':
        return await verifyCommand(rest);
      case 'show':
        return await showCommand(rest);
      case '--version':
      case '-v':
        out(await version());
        return 0;
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE);
        return 0;
      default:
        throw new UsageError(command === undefined ? 'no command given' : `unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`openexec-receipts: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    // Not a verdict on the chain: exit 2 (could not verify), never 1 (verified and found invalid).
    process.stderr.write(`openexec-receipts: error: ${(error as Error).stack ?? error}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
