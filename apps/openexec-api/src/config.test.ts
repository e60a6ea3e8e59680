import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('defaults to demo mode on 127.0.0.1:5000 with sqlite:///openexec.db', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 5000,
      host: '127.0.0.1',
      mode: 'demo',
      dbUrl: 'sqlite:///openexec.db',
      allowedActions: null,
      bodyLimitBytes: 65_536,
    });
  });

  it('names the instance after host and port, and after the process on an ephemeral port', () => {
    expect(loadConfig({}).instanceId).toBe(`${hostname()}:5000`);
    expect(loadConfig({ PORT: '0' }).instanceId).toBe(`${hostname()}:0:${process.pid}`);
    expect(loadConfig({ PORT: '0', OPENEXEC_INSTANCE_ID: 'replica-a' }).instanceId).toBe('replica-a');
  });

  it('parses OPENEXEC_ALLOWED_ACTIONS as a comma list', () => {
    expect(loadConfig({ OPENEXEC_ALLOWED_ACTIONS: ' echo, add ,' }).allowedActions).toEqual(['echo', 'add']);
  });

  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    ['a non-numeric PORT', { PORT: 'eighty' }, /^invalid configuration:\n {2}PORT: /],
    ['a PORT out of range', { PORT: '70000' }, /PORT: /],
    ['an unknown OPENEXEC_MODE', { OPENEXEC_MODE: 'yolo' }, /OPENEXEC_MODE: /],
    ['a bad boolean', { OPENEXEC_STORE_PAYLOADS: 'maybe' }, /OPENEXEC_STORE_PAYLOADS: /],
    ['a tiny body limit', { OPENEXEC_BODY_LIMIT_BYTES: '10' }, /OPENEXEC_BODY_LIMIT_BYTES: /],
    [
      'demo mode on a public address',
      { HOST: '0.0.0.0' },
      /^HOST: demo mode .* refuses to listen on 0\.0\.0\.0/,
    ],
    [
      'clawshield mode without a tenant',
      { OPENEXEC_MODE: 'clawshield', CLAWSHIELD_PUBLIC_KEY: 'x' },
      /^CLAWSHIELD_TENANT_ID: required/,
    ],
    [
      'clawshield mode without keys',
      { OPENEXEC_MODE: 'clawshield', CLAWSHIELD_TENANT_ID: 't' },
      /^CLAWSHIELD_PUBLIC_KEY: /,
    ],
    ['an allow-list naming nothing', { OPENEXEC_ALLOWED_ACTIONS: ' , ' }, /^OPENEXEC_ALLOWED_ACTIONS: /],
  ];
  for (const [name, env, message] of refusals) {
    it(`refuses ${name}, naming the variable`, () => {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(message);
    });
  }

  it('allows demo mode on a public address only with OPENEXEC_ALLOW_INSECURE_DEMO', () => {
    expect(loadConfig({ HOST: '0.0.0.0', OPENEXEC_ALLOW_INSECURE_DEMO: '1' }).host).toBe('0.0.0.0');
  });
});
