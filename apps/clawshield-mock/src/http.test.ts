import { parseKeySet, verifyApproval } from '@openexec/approval-verifier';
import supertest from 'supertest';
import { beforeEach, describe, expect, it } from 'vitest';
import { createMockApp } from './http.js';
import { escapeHtml } from './page.js';
import { ApprovalQueue } from './queue.js';
import { FIXED_NOW, fixedApprover, TEST_KID, TEST_PUBLIC_KEY_PEM, testKey } from './test-support/fixtures.js';

const CSRF = 'test-csrf-token';
const keys = parseKeySet({ pem: TEST_PUBLIC_KEY_PEM });

function setup(bodyLimitBytes?: number) {
  const approver = fixedApprover();
  const queue = new ApprovalQueue(approver);
  const app = createMockApp({
    approver,
    queue,
    csrfToken: CSRF,
    ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
  });
  return { queue, http: supertest(app) };
}

describe('the mock HTTP API', () => {
  let http: ReturnType<typeof setup>['http'];
  let queue: ApprovalQueue;
  beforeEach(() => {
    ({ http, queue } = setup());
  });

  describe('GET /keys', () => {
    it('serves the approver public key as a JWKS', async () => {
      const response = await http.get('/keys').expect(200);
      expect(response.body).toEqual({ keys: [testKey().jwk] });
      expect(response.body.keys[0].kid).toBe(TEST_KID);
      expect(parseKeySet({ jwks: response.text }).kids).toEqual([TEST_KID]);
    });
  });

  describe('POST /approvals', () => {
    it('mints a v1 artifact by default and returns its claims', async () => {
      const response = await http
        .post('/approvals')
        .send({ action: 'echo', payload: { msg: 'hi' }, nonce: 'n-1', max: 2, ttl: 60 })
        .expect(201);
      expect(response.body.format).toBe('v1');
      expect(response.body.claims).toMatchObject({
        act: 'echo',
        non: 'n-1',
        max: 2,
        iss: 'mock:clawshield-mock',
      });
      expect(response.body.claims.exp - response.body.claims.iat).toBe(60);
      const verified = await verifyApproval(
        response.body.artifact,
        { action: 'echo', payload: { msg: 'hi' }, nonce: 'n-1' },
        { now: FIXED_NOW, tenant: 'tenant-001', keys, allowMockIssuers: true },
      );
      expect(verified.maxUses).toBe(2);
    });

    it('mints a legacy artifact on request', async () => {
      const response = await http.post('/approvals').send({ action: 'echo', format: 'legacy' }).expect(201);
      expect(response.body.format).toBe('legacy');
      expect(response.body.artifact).toMatchObject({
        tenant_id: 'tenant-001',
        issued_by: 'mock:clawshield-mock',
      });
      expect(response.body.claims).not.toHaveProperty('signature');
    });

    it('answers 400 invalid_request naming the field for a bad body', async () => {
      const response = await http
        .post('/approvals')
        .send({ action: 'echo', ttl: 99999, bogus: 1 })
        .expect(400);
      expect(response.body).toEqual({
        code: 'invalid_request',
        detail: 'ttl: Too big: expected number to be <=3600; unknown field(s) bogus',
      });
    });

    it('answers 400 invalid_request for a legacy artifact with a nonce', async () => {
      const response = await http
        .post('/approvals')
        .send({ action: 'echo', format: 'legacy', nonce: 'n' })
        .expect(400);
      expect(response.body).toEqual({
        code: 'invalid_request',
        detail: 'nonce: the legacy format cannot carry it (use the v1 format)',
      });
    });

    it('answers 400 malformed_json for broken JSON', async () => {
      const response = await http
        .post('/approvals')
        .set('Content-Type', 'application/json')
        .send('{"action":')
        .expect(400);
      expect(response.body).toEqual({ code: 'malformed_json', detail: 'request body is not valid JSON' });
    });

    it('answers 400 naming the missing action when there is no body', async () => {
      const response = await http.post('/approvals').expect(400);
      expect(response.body).toEqual({
        code: 'invalid_request',
        detail: 'action: Invalid input: expected string, received undefined',
      });
    });

    it('answers 415 unsupported_media_type for a non-JSON body', async () => {
      const response = await http.post('/approvals').set('Content-Type', 'text/plain').send('x').expect(415);
      expect(response.body).toEqual({ code: 'unsupported_media_type', detail: 'send application/json' });
    });

    it('answers 413 payload_too_large over the body limit', async () => {
      const small = setup(1024).http;
      const response = await small
        .post('/approvals')
        .send({ action: 'echo', payload: { big: 'x'.repeat(2048) } })
        .expect(413);
      expect(response.body).toEqual({ code: 'payload_too_large', detail: 'request body too large' });
    });
  });

  describe('the approval queue', () => {
    const submit = (body: Record<string, unknown>) => http.post('/requests').send(body);

    it('POST /requests queues a request as pending', async () => {
      const response = await submit({
        action: 'echo',
        payload: { msg: 'hi' },
        nonce: 'n-1',
        reason: 'test',
      }).expect(201);
      expect(response.body).toEqual({ id: expect.any(String), status: 'pending' });
      expect(response.headers.location).toBe(`/requests/${response.body.id}`);
    });

    it('POST /requests answers 400 for a payload that is not an object', async () => {
      const response = await submit({ action: 'echo', payload: [1] }).expect(400);
      expect(response.body).toEqual({
        code: 'invalid_request',
        detail: 'payload: Invalid input: expected record, received array',
      });
    });

    it('GET /requests lists requests, newest first, filterable by status', async () => {
      const a = (await submit({ action: 'a' })).body.id;
      const b = (await submit({ action: 'b' })).body.id;
      await http.post(`/requests/${a}/deny`).expect(200);
      const all = await http.get('/requests').expect(200);
      expect(all.body.requests.map((r: { id: string }) => r.id)).toEqual([b, a]);
      const pending = await http.get('/requests?status=pending').expect(200);
      expect(pending.body.requests.map((r: { id: string }) => r.id)).toEqual([b]);
      const bad = await http.get('/requests?status=weird').expect(400);
      expect(bad.body.code).toBe('invalid_request');
    });

    it('GET /requests/:id shows one request; 404 not_found for an unknown id', async () => {
      const { id } = (await submit({ action: 'echo', payload: { x: 1 } })).body;
      const response = await http.get(`/requests/${id}`).expect(200);
      expect(response.body).toMatchObject({
        id,
        status: 'pending',
        action: 'echo',
        payload: { x: 1 },
        nonce: null,
      });
      const missing = await http.get('/requests/nope').expect(404);
      expect(missing.body).toEqual({ code: 'not_found', detail: 'no such request' });
    });

    it('POST /requests/:id/approve (no body) mints a v1 artifact bound to the nonce', async () => {
      const { id } = (await submit({ action: 'echo', payload: { msg: 'hi' }, nonce: 'n-7' })).body;
      const response = await http.post(`/requests/${id}/approve`).expect(200);
      expect(response.body).toMatchObject({ id, status: 'approved', format: 'v1', claims: { non: 'n-7' } });
      const stored = await http.get(`/requests/${id}`).expect(200);
      expect(stored.body.artifact).toBe(response.body.artifact);
      await verifyApproval(
        stored.body.artifact,
        { action: 'echo', payload: { msg: 'hi' }, nonce: 'n-7' },
        { now: FIXED_NOW, tenant: 'tenant-001', keys, allowMockIssuers: true },
      );
    });

    it('POST /requests/:id/approve accepts a JSON content type without a body', async () => {
      const { id } = (await submit({ action: 'echo' })).body;
      const response = await http
        .post(`/requests/${id}/approve`)
        .set('Content-Type', 'application/json')
        .expect(200);
      expect(response.body.status).toBe('approved');
    });

    it('POST /requests/:id/approve with JSON chooses the format and ttl', async () => {
      const { id } = (await submit({ action: 'echo' })).body;
      const response = await http
        .post(`/requests/${id}/approve`)
        .send({ format: 'legacy', ttl: 30 })
        .expect(200);
      expect(response.body.artifact).toMatchObject({
        issued_at: '2026-05-10T12:00:00.123000',
        expires_at: '2026-05-10T12:00:30.123000',
      });
    });

    it('POST /requests/:id/deny denies; a second decision is 409 request_not_pending', async () => {
      const { id } = (await submit({ action: 'echo' })).body;
      const denied = await http.post(`/requests/${id}/deny`).expect(200);
      expect(denied.body).toMatchObject({ status: 'denied', artifact: null });
      const again = await http.post(`/requests/${id}/approve`).expect(409);
      expect(again.body).toEqual({ code: 'request_not_pending', detail: 'request is already denied' });
    });

    it('the page forms approve with the CSRF token and redirect back to the page', async () => {
      const { id } = (await submit({ action: 'echo' })).body;
      const response = await http
        .post(`/requests/${id}/approve`)
        .type('form')
        .send({ csrf: CSRF, format: 'legacy' })
        .expect(303);
      expect(response.headers.location).toBe('/');
      expect(queue.get(id)).toMatchObject({ status: 'approved', format: 'legacy' });
    });

    it('refuses a form post without the right CSRF token with 403 csrf_token_invalid', async () => {
      const { id } = (await submit({ action: 'echo' })).body;
      const response = await http
        .post(`/requests/${id}/deny`)
        .type('form')
        .send({ csrf: 'wrong' })
        .expect(403);
      expect(response.body).toEqual({ code: 'csrf_token_invalid', detail: 'reload the page and try again' });
      expect(queue.get(id).status).toBe('pending');
    });
  });

  describe('hostile requests', () => {
    const submit = (body: object) => http.post('/requests').send(body).expect(201);
    it("refuses an empty form post: no CSRF token, not the JSON route's approve with defaults", async () => {
      const { id } = (await submit({ action: 'echo' })).body;
      const response = await http
        .post(`/requests/${id}/approve`)
        .set('Content-Type', 'application/x-www-form-urlencoded');
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(queue.get(id).status).toBe('pending');
    });

    it('refuses a payload nested deeper than the API accepts, and keeps serving the queue', async () => {
      const nest = (levels: number) => {
        let value: unknown = 0;
        for (let i = 0; i < levels; i++) value = [value];
        return value;
      };
      for (const path of ['/requests', '/approvals']) {
        const response = await http
          .post(path)
          .send({ action: 'echo', payload: { deep: nest(100) } })
          .expect(400);
        expect(response.body.detail).toContain('must not nest deeper than 32 levels');
        await http
          .post(path)
          .send({ action: 'echo', payload: { deep: nest(5_000) } })
          .expect(400);
      }
      await submit({ action: 'echo', payload: { fits: nest(30) } });
      await http.get('/requests').expect(200);
      await http.get('/').expect(200);
    });

    it('shows a large payload unindented, no larger than it was sent', async () => {
      let nested: unknown = Array.from({ length: 5_000 }, () => 0);
      for (let i = 0; i < 30; i++) nested = [nested];
      const payload = { nested };
      await submit({ action: 'echo', payload });
      const page = (await http.get('/').expect(200)).text;
      expect(page).toContain(escapeHtml(JSON.stringify(payload)));
      expect(page.length).toBeLessThan(2 * escapeHtml(JSON.stringify(payload)).length);
    });
  });

  describe('GET /', () => {
    it('lists pending requests with Approve/Deny forms and escapes what the agent sent', async () => {
      await http.post('/requests').send({ action: '<script>alert(1)</script>', reason: '"><img src=x>' });
      const response = await http.get('/').expect(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.text).toContain('DEVELOPMENT ONLY');
      expect(response.text).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
      expect(response.text).not.toContain('<script>');
      expect(response.text).not.toContain('<img');
      expect(response.text).toContain(`name="csrf" value="${CSRF}"`);
      expect(response.text.match(/<button type="submit"/g)).toHaveLength(3);
    });

    it('shows approved artifacts', async () => {
      const { id } = (await http.post('/requests').send({ action: 'echo' })).body;
      const { artifact } = (await http.post(`/requests/${id}/approve`)).body;
      const response = await http.get('/').expect(200);
      expect(response.text).toContain(artifact);
    });

    it('sends a CSP without unsafe-inline and no scripts', async () => {
      const response = await http.get('/').expect(200);
      const csp = response.headers['content-security-policy'];
      expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; form-action 'self'/);
      expect(csp).not.toContain('unsafe');
      expect(response.headers['cache-control']).toBe('no-store');
    });
  });

  describe('request guards', () => {
    it('refuses a non-loopback Host header (DNS rebinding) with 403 host_not_allowed', async () => {
      const response = await http.get('/requests').set('Host', 'evil.example:5100').expect(403);
      expect(response.body).toEqual({
        code: 'host_not_allowed',
        detail: 'the Host header must name a loopback address',
      });
    });

    it('refuses a cross-origin POST with 403 origin_not_allowed', async () => {
      const response = await http
        .post('/approvals')
        .set('Origin', 'https://evil.example')
        .send({ action: 'echo' })
        .expect(403);
      expect(response.body).toEqual({
        code: 'origin_not_allowed',
        detail: 'cross-origin requests are not allowed',
      });
    });

    it('answers unknown routes with 404 not_found as JSON', async () => {
      const response = await http.get('/nope').expect(404);
      expect(response.body).toEqual({ code: 'not_found', detail: 'no such route' });
    });
  });
});
