import { describe, expect, it } from 'vitest';
import type { App } from './app.js';
import { OPERATIONS } from './openapi.js';
import { startTestServer } from './test-support/server.js';

describe('GET /openapi.json', () => {
  it('documents every route the service has, and nothing else', async () => {
    const server = await startTestServer();
    try {
      const doc = (await server.http.get('/openapi.json')).body;
      expect(doc.openapi).toBe('3.1.0');
      const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
        .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`))
        .sort();

      const app = server.server.listeners('request')[0] as unknown as App;
      const routes = app.routes().sort();
      expect(documented).toEqual(routes);
    } finally {
      await server.close();
    }
  });

  it('has examples that validate against the very schemas the routes use', () => {
    let checked = 0;
    for (const op of OPERATIONS) {
      if (op.request) {
        expect(
          op.request.schema.safeParse(op.request.example).success,
          `${op.method} ${op.path} request example`,
        ).toBe(true);
        checked++;
      }
      for (const [status, response] of Object.entries(op.responses)) {
        if (response.schema && response.example !== undefined) {
          const result = response.schema.safeParse(response.example);
          expect(
            result.success,
            `${op.method} ${op.path} ${status}: ${JSON.stringify(result.error?.issues)}`,
          ).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('describes real answers: a live /execute response and error validate against the documented schemas', async () => {
    const server = await startTestServer();
    try {
      const execute = OPERATIONS.find((op) => op.path === '/execute');
      const ok = await server.http.post('/execute').send({ action: 'echo', payload: {}, nonce: 'o-1' });
      expect(execute?.responses['200']?.schema?.safeParse(ok.body).success).toBe(true);
      const bad = await server.http.post('/execute').send({ action: 'nope', payload: {}, nonce: 'o-2' });
      expect(execute?.responses['400']?.schema?.safeParse(bad.body).success).toBe(true);
      const health = OPERATIONS.find((op) => op.path === '/health');
      expect(
        health?.responses['200']?.schema?.safeParse((await server.http.get('/health')).body).success,
      ).toBe(true);
    } finally {
      await server.close();
    }
  });
});
