import { createHash } from 'node:crypto';
import type { ApprovalRequestRecord } from './queue.js';

/**
 * The page has no script at all and one fixed style block, allowed by its hash: the CSP needs
 * neither 'unsafe-inline' nor any external source. Everything the agent sent (action,
 * payload, reason, nonce) is untrusted and escaped.
 */
const STYLE = `
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
.warn{background:#fde8e8;border:2px solid #c81e1e;padding:.75rem 1rem;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem;vertical-align:top;text-align:left}
pre,textarea{font-family:ui-monospace,monospace;font-size:.8rem;white-space:pre-wrap;word-break:break-all;margin:0}
textarea{width:100%;min-width:24rem;min-height:5rem}
form{display:inline}button{margin:.1rem}
`;

export const PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE, 'utf8').digest('base64')}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

// Indentation grows with nesting: a 64 KiB payload could print as megabytes. Past this size
// the payload is shown as sent, unindented (never larger than the request that carried it).
const PRETTY_LIMIT = 16 * 1024;
const json = (value: unknown) => {
  const pretty = JSON.stringify(value, null, 2);
  return escapeHtml(pretty.length <= PRETTY_LIMIT ? pretty : JSON.stringify(value));
};

/** A legacy approval cannot bind the nonce the agent asked for: say so. */
function nonceCell(record: ApprovalRequestRecord): string {
  if (record.nonce === null) return '<em>none</em>';
  const unbound = record.format === 'legacy' ? ' <em>(not bound: legacy)</em>' : '';
  return `<code>${escapeHtml(record.nonce)}</code>${unbound}`;
}

function pendingRow(record: ApprovalRequestRecord, csrf: string): string {
  const id = escapeHtml(record.id);
  const action = (verb: string, label: string, format?: string) =>
    `<form method="post" action="/requests/${encodeURIComponent(record.id)}/${verb}">` +
    `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">` +
    (format ? `<input type="hidden" name="format" value="${format}">` : '') +
    `<button type="submit" data-request="${id}" data-verb="${verb}"${format ? ` data-format="${format}"` : ''}>${label}</button></form>`;
  return (
    `<tr id="request-${id}"><td><code>${id}</code><br>${escapeHtml(record.created_at)}</td>` +
    `<td><code>${escapeHtml(record.action)}</code></td><td><pre>${json(record.payload)}</pre></td>` +
    `<td>${nonceCell(record)}</td>` +
    `<td>${record.reason === null ? '' : escapeHtml(record.reason)}</td>` +
    `<td>${action('approve', 'Approve')}${action('approve', 'Approve (legacy)', 'legacy')}${action('deny', 'Deny')}</td></tr>`
  );
}

function decidedRow(record: ApprovalRequestRecord): string {
  const id = escapeHtml(record.id);
  const artifact =
    record.artifact === null
      ? ''
      : `<textarea readonly aria-label="artifact ${id}">${escapeHtml(
          typeof record.artifact === 'string' ? record.artifact : JSON.stringify(record.artifact),
        )}</textarea>`;
  return (
    `<tr id="request-${id}"><td><code>${id}</code></td><td><code>${escapeHtml(record.action)}</code></td>` +
    `<td><pre>${json(record.payload)}</pre></td><td>${nonceCell(record)}</td>` +
    `<td class="status">${escapeHtml(record.status)}` +
    `${record.format ? ` (${escapeHtml(record.format)})` : ''}<br>${escapeHtml(record.decided_at ?? '')}</td>` +
    `<td>${artifact}</td></tr>`
  );
}

export interface PageModel {
  tenant: string;
  issuer: string;
  kid: string;
  csrf: string;
  requests: readonly ApprovalRequestRecord[];
}

export function renderPage(model: PageModel): string {
  const pending = model.requests.filter((r) => r.status === 'pending');
  const decided = model.requests.filter((r) => r.status !== 'pending');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clawshield-mock (development only)</title>
<style>${STYLE}</style></head><body>
<p class="warn">DEVELOPMENT ONLY. This approver signs whatever you click. Never point a production OpenExec at it.</p>
<h1>clawshield-mock</h1>
<p>Tenant <code>${escapeHtml(model.tenant)}</code>, issuer <code>${escapeHtml(model.issuer)}</code>, key <code>${escapeHtml(model.kid)}</code>. Reload the page to see new requests.</p>
<h2>Pending requests (${pending.length})</h2>
${
  pending.length === 0
    ? '<p id="no-pending">No pending requests.</p>'
    : `<table id="pending"><thead><tr><th>request</th><th>action</th><th>payload</th><th>nonce</th><th>reason</th><th>decision</th></tr></thead><tbody>
${pending.map((r) => pendingRow(r, model.csrf)).join('\n')}
</tbody></table>`
}
<h2>Decided (${decided.length})</h2>
${
  decided.length === 0
    ? '<p>Nothing decided yet.</p>'
    : `<table id="decided"><thead><tr><th>request</th><th>action</th><th>payload</th><th>nonce</th><th>status</th><th>artifact</th></tr></thead><tbody>
${decided.map(decidedRow).join('\n')}
</tbody></table>`
}
</body></html>
`;
}
