// The README's example, kept runnable.
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import {
  type ChainHead,
  createReceiptSigner,
  generateSigningKey,
  nextReceipt,
  receiptHash,
  type SignedReceipt,
  verifyChain,
  verifyReceipt,
} from './index.js';

describe('the README example', () => {
  it('signs a chain, verifies it, and detects a cut tail against a checkpoint', async () => {
    const { privateKeyPem } = generateSigningKey();
    const signer = createReceiptSigner(privateKeyPem);
    const keys = { keys: [signer.publicJwk] };

    let head: ChainHead | null = null;
    const chain: SignedReceipt[] = [];
    for (const outcome of ['succeeded', 'failed', 'replay_denied'] as const) {
      const body = nextReceipt(head, 'replica-1', {
        exec_id: 'exec-42',
        tenant: 'acme',
        nonce: 'n-42',
        action: 'echo',
        request_digest: 'sha256:9f86d0…',
        approval: { id: 'appr-7', issuer: 'clawshield', kid: 'approver-2025' },
        mode: 'clawshield',
        outcome,
        result_digest: outcome === 'succeeded' ? 'sha256:2c26b4…' : null,
        error_code: outcome === 'failed' ? 'handler_error' : null,
        isolation: 'bwrap',
        run: { exit_code: 0, signal: null, duration_ms: 12.5, max_rss_kib: 3120, cpu_ms: 4 },
        created_at: new Date(),
      });
      const receipt = signer.sign(body);
      chain.push(receipt);
      head = { seq: receipt.seq, hash: receiptHash(receipt) };
    }

    expect(verifyReceipt(chain[1], keys)).toMatchObject({ valid: true, problems: [] });
    expect(verifyChain(chain, keys)).toEqual({ valid: true, count: 3, head, problems: [] });

    const checkpoint = signer.signCheckpoint({ chain: 'replica-1', seq: head!.seq, head: head!.hash });
    expect(verifyChain(chain.slice(0, 2), keys, { checkpoint })).toMatchObject({
      valid: false,
      problems: [
        {
          seq: 3,
          code: 'ERR_CHAIN_TRUNCATED',
          message:
            'seq 3: the chain ends at seq 2 but the checkpoint covers seq 3 (1 newest receipt cut off)',
        },
      ],
    });

    const dir = mkdtempSync(join(tmpdir(), 'openexec-receipts-readme-'));
    try {
      writeFileSync(join(dir, 'chain.jsonl'), `${chain.map((r) => JSON.stringify(r)).join('\n')}\n`);
      const lines = createInterface({
        input: createReadStream(join(dir, 'chain.jsonl')),
        crlfDelay: Number.POSITIVE_INFINITY,
      });
      expect(await verifyChain(lines, keys, { checkpoint })).toMatchObject({ valid: true, count: 3 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
