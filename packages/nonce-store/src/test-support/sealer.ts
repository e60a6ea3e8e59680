import { createHash } from 'node:crypto';
import type { ChainHead, ReceiptDraft, ReceiptSealer, SealedReceipt } from '../types.js';

/** A hash chain without signatures: enough to test the store's sequencing (signing lives in @openexec/receipts). */
export function testSealer(chain: string): ReceiptSealer {
  return {
    chain,
    seal(head: ChainHead | null, drafts: readonly ReceiptDraft[]): SealedReceipt[] {
      let prev = head;
      return drafts.map((draft) => {
        const seq = (prev?.seq ?? 0) + 1;
        const body = JSON.stringify({ chain, seq, prev: prev?.hash ?? null, draft: draft.fields });
        const hash = createHash('sha256').update(body).digest('hex');
        prev = { seq, hash };
        return { chain, seq, hash, body };
      });
    },
  };
}
