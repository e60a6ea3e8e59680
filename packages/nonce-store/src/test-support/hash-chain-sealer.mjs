// A hash chain without signatures, enough to test the store's sequencing (signing lives in
// @openexec/receipts). Plain JavaScript: the SQLite write thread imports it by URL.
import { createHash } from 'node:crypto';

export function createHashChainSealer(chain) {
  return {
    chain,
    seal(head, drafts) {
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
