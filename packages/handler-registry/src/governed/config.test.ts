import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LIMITS,
  NODE_DEFAULT_MEMORY_BYTES,
  parseGovernedConfig,
  readGovernedConfig,
} from './config.js';
import { GovernedConfigError } from './errors.js';

const VALID_YAML = `# operator config
version: 1
actions:
  - kind: process
    name: wc
    executable: /usr/bin/wc
    argv:
      maxPositional: 2
      allowedFlags: ['-l', '-w']
      allowedValueFlags: ['--files0-from']
      deniedFlags: ['--version']
    env:
      allow: [LC_ALL]
    cwd:
      root: /srv/data
  - kind: code
    name: py
    language: python
    interpreter: /usr/bin/python3.11
    timeoutMs: 5000
    limits:
      memoryBytes: 134217728
    outputFiles:
      extensions: ['.CSV', '.png']
      maxFileBytes: 1048576
      maxTotalBytes: 4194304
  - kind: code
    name: js
    language: node
    interpreter: /usr/bin/node
`;

function configError(run: () => unknown): GovernedConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof GovernedConfigError) return error;
    throw error;
  }
  throw new Error('expected a GovernedConfigError');
}

describe('parseGovernedConfig', () => {
  describe('when the config is valid', () => {
    it('fills every default and keeps what the operator set', () => {
      const config = parseGovernedConfig(VALID_YAML, 'yaml');
      expect(config.runAs).toBeNull();
      const [wc, py, js] = config.actions;
      expect(wc).toMatchObject({
        kind: 'process',
        name: 'wc',
        description: null,
        sha256: null,
        fixedArgs: [],
        timeoutMs: 30_000,
        isolation: 'bwrap',
        readOnlyPaths: [],
        argv: { minPositional: 0, maxPositional: 2, allowedFlags: ['-l', '-w'], deniedFlags: ['--version'] },
        env: { allow: ['LC_ALL'] },
        cwd: { root: '/srv/data', writable: false },
        limits: DEFAULT_LIMITS,
      });
      expect(py).toMatchObject({
        kind: 'code',
        language: 'python',
        timeoutMs: 5000,
        limits: { ...DEFAULT_LIMITS, memoryBytes: 134217728 },
        outputFiles: { extensions: ['.csv', '.png'], maxFiles: 32 },
      });
      expect(js).toMatchObject({ limits: { memoryBytes: NODE_DEFAULT_MEMORY_BYTES } });
      expect(Object.isFrozen(config.actions)).toBe(true);
    });

    it('accepts the same config as JSON', () => {
      const json = JSON.stringify({
        actions: [{ kind: 'process', name: 'wc', executable: '/usr/bin/wc', argv: { maxPositional: 1 } }],
      });
      expect(parseGovernedConfig(json, 'json').actions[0]).toMatchObject({ name: 'wc', isolation: 'bwrap' });
    });
  });

  describe('when a field is invalid', () => {
    it('rejects with ERR_GOVERNED_CONFIG_INVALID naming the field path and the YAML line', () => {
      const yaml = VALID_YAML.replace('maxPositional: 2', "maxPositional: 'two'");
      const error = configError(() => parseGovernedConfig(yaml, 'yaml', { source: 'actions.yaml' }));
      expect(error.code).toBe('ERR_GOVERNED_CONFIG_INVALID');
      expect(error.message).toContain('actions.yaml');
      expect(error.message).toContain('line 8: actions[0].argv.maxPositional');
      expect(error.issues[0]).toMatchObject({ path: 'actions[0].argv.maxPositional', line: 8 });
    });

    it('points an unknown key at its own line', () => {
      const yaml = VALID_YAML.replace('    timeoutMs: 5000\n', '    timeoutMs: 5000\n    shell: true\n');
      const error = configError(() => parseGovernedConfig(yaml, 'yaml'));
      expect(error.issues[0]).toMatchObject({ path: 'actions[1].shell', line: 21 });
      expect(error.message).toContain('Unrecognized key');
    });

    it('points a missing field at its parent', () => {
      const yaml = VALID_YAML.replace('    executable: /usr/bin/wc\n', '');
      const error = configError(() => parseGovernedConfig(yaml, 'yaml'));
      expect(error.issues[0]).toMatchObject({ path: 'actions[0].executable', line: 4 });
    });

    it('refuses an unknown action kind', () => {
      const error = configError(() =>
        parseGovernedConfig('actions:\n  - kind: shell\n    name: sh\n', 'yaml'),
      );
      expect(error.issues[0]).toMatchObject({ path: 'actions[0].kind', line: 2 });
    });

    it('refuses relative and unnormalized executable paths', () => {
      for (const executable of ['wc', '/usr/bin/../bin/wc', '/usr/bin/wc/']) {
        const error = configError(() =>
          parseGovernedConfig(
            JSON.stringify({
              actions: [{ kind: 'process', name: 'wc', executable, argv: { maxPositional: 1 } }],
            }),
            'json',
          ),
        );
        expect(error.issues[0]?.path).toBe('actions[0].executable');
      }
    });

    it('refuses an executable under /work (hidden by the work dir mount)', () => {
      const error = configError(() =>
        parseGovernedConfig(
          'actions:\n  - kind: process\n    name: x\n    executable: /work/x\n    argv: { maxPositional: 0 }\n',
          'yaml',
        ),
      );
      expect(error.issues[0]).toMatchObject({ path: 'actions[0].executable', line: 4 });
    });

    it('refuses PATH, LD_* and DYLD_* in the env allow-list', () => {
      for (const name of ['PATH', 'LD_PRELOAD', 'DYLD_INSERT_LIBRARIES', 'NODE_OPTIONS', 'GLIBC_TUNABLES']) {
        const yaml = VALID_YAML.replace('allow: [LC_ALL]', `allow: [LC_ALL, ${name}]`);
        const error = configError(() => parseGovernedConfig(yaml, 'yaml'));
        expect(error.issues[0]).toMatchObject({ path: 'actions[0].env.allow[1]', line: 13 });
        expect(error.message).toContain(name);
      }
    });

    it('refuses minPositional above maxPositional and a flag both allowed and denied', () => {
      const yaml = VALID_YAML.replace('maxPositional: 2', 'maxPositional: 2\n      minPositional: 3').replace(
        "deniedFlags: ['--version']",
        "deniedFlags: ['-l']",
      );
      const error = configError(() => parseGovernedConfig(yaml, 'yaml'));
      expect(error.issues.map((issue) => issue.path)).toEqual([
        'actions[0].argv.minPositional',
        'actions[0].argv.allowedFlags[0]',
      ]);
    });

    it('refuses two actions with the same name', () => {
      const yaml = VALID_YAML.replace('name: js', 'name: py');
      const error = configError(() => parseGovernedConfig(yaml, 'yaml'));
      expect(error.issues[0]).toMatchObject({ path: 'actions[2].name', line: 28 });
      expect(error.message).toContain('duplicate action name py');
    });

    it('refuses runAs uid 0', () => {
      const error = configError(() =>
        parseGovernedConfig(`runAs: { uid: 0, gid: 0 }\nactions: []\n`, 'yaml'),
      );
      expect(error.issues[0]).toMatchObject({ path: 'runAs.uid', line: 1 });
    });

    it('names the field in JSON too, with its line', () => {
      const json = `{
  "actions": [
    { "kind": "code", "name": "py", "language": "ruby", "interpreter": "/usr/bin/ruby" }
  ]
}`;
      const error = configError(() => parseGovernedConfig(json, 'json', { source: 'actions.json' }));
      expect(error.message).toContain('actions.json');
      expect(error.issues[0]).toMatchObject({ path: 'actions[0].language', line: 3 });
    });
  });

  describe('when the document does not parse', () => {
    it('reports the YAML syntax error line', () => {
      const error = configError(() =>
        parseGovernedConfig('actions:\n  - kind: process\n   name: [x\n', 'yaml'),
      );
      expect(error.code).toBe('ERR_GOVERNED_CONFIG_INVALID');
      expect(error.issues[0]?.line).toBe(3);
      expect(error.message).toContain('line 3: invalid YAML');
    });

    it('refuses duplicate keys (JSON.parse would keep the last one silently)', () => {
      const error = configError(() =>
        parseGovernedConfig('{"actions": [], "actions": [{"kind": "process"}]}', 'json'),
      );
      expect(error.message).toContain('duplicate key');
    });

    it('refuses malformed JSON', () => {
      const error = configError(() => parseGovernedConfig('{"actions": [', 'json'));
      expect(error.message).toContain('not valid JSON');
    });

    it('refuses a non-object document', () => {
      const error = configError(() => parseGovernedConfig('- 1\n- 2\n', 'yaml'));
      expect(error.issues[0]?.path).toBe('(root)');
    });
  });
});

describe('readGovernedConfig', () => {
  it('picks the format from the extension and names the file in errors', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'openexec-config-'));
    try {
      const file = path.join(dir, 'actions.yml');
      writeFileSync(file, 'actions:\n  - kind: process\n    name: wc\n');
      await expect(readGovernedConfig(file)).rejects.toMatchObject({
        code: 'ERR_GOVERNED_CONFIG_INVALID',
        message: expect.stringContaining(`${file}: line 2: actions[0].executable`),
      });
      await expect(readGovernedConfig(path.join(dir, 'actions.toml'))).rejects.toMatchObject({
        code: 'ERR_GOVERNED_CONFIG_INVALID',
      });
      writeFileSync(path.join(dir, 'ok.json'), '{"actions": []}');
      await expect(readGovernedConfig(path.join(dir, 'ok.json'))).resolves.toEqual({
        runAs: null,
        actions: [],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
