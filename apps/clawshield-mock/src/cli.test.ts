import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, runCli } from './run-cli.js';
import { DEV_ONLY_WARNING } from './safety.js';
import {
  FIXED_ID,
  FIXED_NOW,
  FIXED_PAYLOAD,
  TEST_KID,
  TEST_PRIVATE_KEY_PEM,
  TEST_PUBLIC_KEY_PEM,
} from './test-support/fixtures.js';

const BUILT_CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

function io(env: NodeJS.ProcessEnv = {}): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    env,
    now: () => FIXED_NOW,
    newId: () => FIXED_ID,
    stdout: (text: string) => {
      sink.out += text;
    },
    stderr: (text: string) => {
      sink.err += text;
    },
  };
  return sink;
}

const dir = mkdtempSync(join(tmpdir(), 'clawshield-mock-cli-'));
const keyFile = join(dir, 'fixed.key.pem');
const pubFile = join(dir, 'fixed.pub.pem');
writeFileSync(keyFile, TEST_PRIVATE_KEY_PEM, { mode: 0o600 });
writeFileSync(pubFile, TEST_PUBLIC_KEY_PEM);

describe('the clawshield-mock CLI', () => {
  describe('keygen', () => {
    it('writes the key files, prints their paths and kid, and warns on stderr', async () => {
      const sink = io();
      const out = join(dir, 'keys');
      expect(await runCli(['keygen', '--out', out], sink)).toEqual({ exitCode: 0 });
      const printed = JSON.parse(sink.out);
      expect(printed.private_key).toBe(join(out, 'approver.key.pem'));
      expect(JSON.parse(readFileSync(printed.jwks, 'utf8')).keys[0].kid).toBe(printed.kid);
      expect(sink.err).toBe(`${DEV_ONLY_WARNING}\n`);
    });

    it('exits 1 without overwriting an existing key', async () => {
      const out = join(dir, 'twice');
      await runCli(['keygen', '--out', out], io());
      const sink = io();
      expect(await runCli(['keygen', '--out', out], sink)).toEqual({ exitCode: 1 });
      expect(sink.err).toContain('already exists; use --force');
    });
  });

  describe('mint', () => {
    const args = ['mint', '--key', keyFile, '--tenant', 'tenant-001', '--action', 'echo'];

    it('prints a v1 token (the same one as the library) and warns on stderr', async () => {
      const sink = io();
      const payloadFile = join(dir, 'payload.json');
      writeFileSync(payloadFile, JSON.stringify(FIXED_PAYLOAD));
      const result = await runCli(
        [...args, '--payload', `@${payloadFile}`, '--nonce', 'nonce-1', '--max', '2'],
        sink,
      );
      expect(result).toEqual({ exitCode: 0 });
      expect(sink.out).toMatch(
        /^eyJhbGciOiJFZERTQSIsInR5cCI6Im9wZW5leGVjLWFwcHJvdmFsK2p3dCIs[^\n]+\.kMIpZGzF[^\n]+\n$/,
      );
      expect(sink.err).toBe(`${DEV_ONLY_WARNING}\n`);
    });

    it('prints a legacy artifact as one line of JSON', async () => {
      const sink = io();
      await runCli([...args, '--format', 'legacy', '--payload', JSON.stringify(FIXED_PAYLOAD)], sink);
      expect(sink.out.endsWith('\n')).toBe(true);
      expect(JSON.parse(sink.out)).toMatchObject({
        approval_id: FIXED_ID,
        issued_at: '2026-05-10T12:00:00.123000',
        signature: '4OgqrIsGdx4ZEmE7oXdvzjYWy2pywdHqUUKCy2/WWmLdP6XxWgeTMsWLosljY4cKksRvGQnEbS8s66+4jVEhBg==',
        issued_by: 'mock:clawshield-mock',
      });
    });

    it.each([
      [['mint', '--tenant', 't', '--action', 'echo'], '--key is required'],
      [[...args, '--format', 'v2'], '--format: expected v1 or legacy, got "v2"'],
      [[...args, '--payload', '{nope'], '--payload: not valid JSON'],
      [[...args, '--payload', '[1]'], '--payload: must be a JSON object'],
      [[...args, '--ttl', '5m'], '--ttl: expected a whole number, got "5m"'],
      [[...args, '--ttl', '7200'], '--ttl: must be between 1 and 3600'],
      [[...args, '--colour'], "Unknown option '--colour'"],
      [
        [...args, '--format', 'legacy', '--nonce', 'n'],
        'nonce: the legacy format cannot carry it (use the v1 format)',
      ],
      [['frobnicate'], 'unknown command "frobnicate"'],
      [[], 'no command given'],
    ])('%j is a usage error: exit 2 with a message and the usage', async (argv, message) => {
      const sink = io();
      expect(await runCli(argv, sink)).toEqual({ exitCode: 2 });
      expect(sink.err).toContain(message);
      expect(sink.err).toContain('Usage:');
      expect(sink.out).toBe('');
    });

    it('exits 1 naming an unreadable key file', async () => {
      const sink = io();
      expect(
        await runCli(['mint', '--key', '/nonexistent.pem', '--tenant', 't', '--action', 'a'], sink),
      ).toEqual({
        exitCode: 1,
      });
      expect(sink.err).toContain('cannot read key file /nonexistent.pem');
    });
  });

  describe('inspect', () => {
    it('reports a token and verifies it against a JWKS or a public PEM', async () => {
      const mintSink = io();
      await runCli(['mint', '--key', keyFile, '--tenant', 'tenant-001', '--action', 'echo'], mintSink);
      const jwksFile = join(dir, 'keys.jwks.json');
      writeFileSync(
        jwksFile,
        JSON.stringify({
          keys: [
            { kty: 'OKP', crv: 'Ed25519', kid: TEST_KID, x: '3cejEArMGR0t-Qnjv0bGrq7LZTEU7b3Qn2Ck4mmSatk' },
          ],
        }),
      );
      for (const flag of [
        ['--jwks', jwksFile],
        ['--pub', pubFile],
      ]) {
        const sink = io();
        expect(await runCli(['inspect', mintSink.out.trim(), ...flag], sink)).toEqual({ exitCode: 0 });
        expect(JSON.parse(sink.out)).toMatchObject({
          format: 'v1',
          action: 'echo',
          signature: { status: 'valid', kid: TEST_KID },
        });
      }
    });

    it('exits 1 when the bound payload differs from --payload', async () => {
      const mintSink = io();
      await runCli(
        ['mint', '--key', keyFile, '--tenant', 't', '--action', 'echo', '--format', 'legacy'],
        mintSink,
      );
      const file = join(dir, 'legacy.json');
      writeFileSync(file, mintSink.out);
      const sink = io();
      const result = await runCli(['inspect', `@${file}`, '--action', 'echo', '--payload', '{"a":1}'], sink);
      expect(result).toEqual({ exitCode: 1 });
      expect(JSON.parse(sink.out)).toMatchObject({ format: 'legacy', payloadMatches: false });
    });

    it('exits 2 for an artifact it cannot decode', async () => {
      const sink = io();
      expect(await runCli(['inspect', 'garbage'], sink)).toEqual({ exitCode: 2 });
      expect(sink.err).toContain('a v1 approval has three dot-separated segments');
    });
  });

  describe('serve', () => {
    it('starts on loopback and answers GET /keys', async () => {
      const sink = io();
      const result = await runCli(['serve', '--key', keyFile, '--tenant', 't', '--port', '0'], sink);
      if (result.exitCode !== null) throw new Error(sink.err);
      try {
        const response = await fetch(`${result.server.url}/keys`);
        const jwks = (await response.json()) as { keys: { kid: string }[] };
        expect(jwks.keys[0]?.kid).toBe(TEST_KID);
        expect(sink.out).toMatch(
          /^clawshield-mock listening on http:\/\/127\.0\.0\.1:\d+ \(tenant t, issuer mock:clawshield-mock/,
        );
      } finally {
        await result.server.close();
      }
    });

    it('refuses to start when NODE_ENV=production: exit 1 with a clear message', async () => {
      const sink = io({ NODE_ENV: 'production' });
      expect(await runCli(['serve', '--key', keyFile, '--tenant', 't', '--port', '0'], sink)).toEqual({
        exitCode: 1,
      });
      expect(sink.err).toBe(
        'clawshield-mock: refusing to start: NODE_ENV=production, and clawshield-mock is a development-only approver\n',
      );
    });

    it.each(['0.0.0.0', '::', '192.168.1.10', 'example.com'])(
      'refuses to listen on the non-loopback host %s: exit 1',
      async (host) => {
        const sink = io();
        expect(await runCli(['serve', '--key', keyFile, '--tenant', 't', '--host', host], sink)).toEqual({
          exitCode: 1,
        });
        expect(sink.err).toBe(
          `clawshield-mock: refusing to listen on ${host}: clawshield-mock binds only to loopback (127.0.0.1, ::1, localhost)\n`,
        );
      },
    );
  });

  describe('the built executable (dist/cli.js)', () => {
    const run = promisify(execFile);
    const exec = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      try {
        const { stdout, stderr } = await run(process.execPath, [BUILT_CLI, ...args], {
          env: { PATH: process.env.PATH, ...env },
          timeout: 15_000,
        });
        return { code: 0, stdout, stderr };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };

    beforeAll(() => {
      if (!existsSync(BUILT_CLI)) {
        throw new Error(`${BUILT_CLI} is missing: run "pnpm --filter clawshield-mock build" first`);
      }
    });

    it('has a node shebang', () => {
      expect(readFileSync(BUILT_CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    });

    it('exits 1 under NODE_ENV=production', async () => {
      const result = await exec(['serve', '--key', keyFile, '--tenant', 't', '--port', '0'], {
        NODE_ENV: 'production',
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('refusing to start: NODE_ENV=production');
    });

    it('exits 1 for a non-loopback --host', async () => {
      const result = await exec(['serve', '--key', keyFile, '--tenant', 't', '--host', '0.0.0.0']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('refusing to listen on 0.0.0.0');
    });

    it('exits 2 on a usage error', async () => {
      const result = await exec(['mint', '--tenant', 't']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--key is required');
    });
  });
});
