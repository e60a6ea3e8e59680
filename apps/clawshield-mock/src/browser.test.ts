/**
 * The approval page in a real (headless) Chromium: an agent posts a request over HTTP, a
 * human clicks Approve, and the stored artifact verifies. Needs /usr/bin/chromium (CI
 * installs Debian's chromium); without it the test is skipped with a warning.
 */
import { existsSync } from 'node:fs';
import { parseKeySet, verifyApproval } from '@openexec/approval-verifier';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApproverKey } from './keys.js';
import { createApprover } from './mint.js';
import { type RunningMock, startMockServer } from './serve.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.warn(`browser.test.ts skipped: ${CHROMIUM} not found (apt-get install chromium)`);

describe.skipIf(!available)('the approval page in headless Chromium', () => {
  const key = generateApproverKey();
  const approver = createApprover({ key, tenant: 'dev-tenant' });
  let browser: Browser;
  let mock: RunningMock;

  beforeAll(async () => {
    mock = await startMockServer({ approver, port: 0, env: {} });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await mock?.close();
  });

  /** The fields of the mock's JSON answers this test reads. */
  type Answer = { id: string; status: string; format: string | null; artifact: unknown };

  /** The form post answers 303 to the page; resolves once the page has been fetched again. */
  const backOnThePage = (page: Page) =>
    page.waitForResponse((r) => r.url() === `${mock.url}/` && r.request().method() === 'GET');

  const request = async (path: string, init?: RequestInit) => {
    const response = await fetch(`${mock.url}${path}`, init);
    return { status: response.status, body: (await response.json()) as Answer };
  };

  it('approving in the page stores an artifact that verifies; no CSP violation', async () => {
    const payload = { msg: 'from the browser test', n: 3 };
    const submitted = await request('/requests', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'echo', payload, nonce: 'browser-1', reason: 'demo <b>bold?</b>' }),
    });
    expect(submitted).toEqual({ status: 201, body: { id: expect.any(String), status: 'pending' } });
    const id: string = submitted.body.id;

    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    await page.goto(`${mock.url}/`);
    await expect(page.locator(`#request-${id}`).textContent()).resolves.toContain('demo <b>bold?</b>');
    await Promise.all([
      backOnThePage(page),
      page.click(`button[data-request="${id}"][data-verb="approve"]:not([data-format])`),
    ]);
    await expect(page.locator(`#request-${id} .status`).textContent()).resolves.toContain('approved');
    expect(consoleErrors).toEqual([]);

    const stored = await request(`/requests/${id}`);
    expect(stored.body).toMatchObject({ status: 'approved', format: 'v1' });
    await expect(page.locator(`#request-${id} textarea`).inputValue()).resolves.toBe(stored.body.artifact);
    const verified = await verifyApproval(
      stored.body.artifact,
      { action: 'echo', payload, nonce: 'browser-1' },
      {
        now: new Date(),
        tenant: 'dev-tenant',
        keys: parseKeySet({ pem: key.publicPem }),
        allowMockIssuers: true,
      },
    );
    expect(verified).toMatchObject({ format: 'v1', nonce: 'browser-1', issuer: 'mock:clawshield-mock' });
    await page.close();
  });

  it('denying in the page marks the request denied', async () => {
    const { body } = await request('/requests', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'echo' }),
    });
    const page = await browser.newPage();
    await page.goto(`${mock.url}/`);
    await Promise.all([
      backOnThePage(page),
      page.click(`button[data-request="${body.id}"][data-verb="deny"]`),
    ]);
    expect((await request(`/requests/${body.id}`)).body.status).toBe('denied');
    await page.close();
  });
});
