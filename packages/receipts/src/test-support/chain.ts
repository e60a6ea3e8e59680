// Test fixtures: signers, chains and tampering helpers. Not part of the build.
import {
  createReceiptSigner,
  generateSigningKey,
  type Jwk,
  type Jwks,
  nextReceipt,
  type ReceiptFields,
  type ReceiptSigner,
  receiptHash,
  type SignedReceipt,
} from '../index.js';

export const T0 = Date.parse('2025-01-01T00:00:00.000Z');

export function newSigner(): ReceiptSigner {
  return createReceiptSigner(generateSigningKey().privateKeyPem);
}

export function fields(i: number, overrides: Partial<ReceiptFields> = {}): ReceiptFields {
  return {
    exec_id: `exec-${i}`,
    tenant: 'acme',
    nonce: `nonce-${i}`,
    action: 'echo',
    request_digest: `sha256:${String(i).padStart(64, '0')}`,
    approval: i % 2 === 0 ? { id: `appr-${i}`, issuer: 'clawshield', kid: 'approver-1' } : null,
    mode: i % 2 === 0 ? 'clawshield' : 'demo',
    outcome: 'succeeded',
    result_digest: `sha256:${String(i).padStart(64, 'f')}`,
    error_code: null,
    isolation: null,
    run: null,
    created_at: new Date(T0 + i * 1000),
    ...overrides,
  };
}

export interface Chain {
  signer: ReceiptSigner;
  chainId: string;
  receipts: SignedReceipt[];
  jwks: Jwks;
}

/** A chain of n receipts; `from` continues an existing chain (same signer), e.g. to build a fork. */
export function makeChain(
  n: number,
  options: {
    signer?: ReceiptSigner;
    chainId?: string;
    from?: SignedReceipt[];
    outcome?: ReceiptFields['outcome'];
  } = {},
): Chain {
  const signer = options.signer ?? newSigner();
  const chainId = options.chainId ?? options.from?.[0]?.chain ?? 'replica-a';
  const receipts = [...(options.from ?? [])];
  let last = receipts[receipts.length - 1];
  let head = last === undefined ? null : { seq: last.seq, hash: receiptHash(last) };
  while (receipts.length < n) {
    const i = receipts.length + 1;
    const body = nextReceipt(head, chainId, fields(i, options.outcome ? { outcome: options.outcome } : {}));
    last = signer.sign(body);
    receipts.push(last);
    head = { seq: last.seq, hash: receiptHash(last) };
  }
  return { signer, chainId, receipts, jwks: { keys: [signer.publicJwk] } };
}

export function jwksWith(signer: ReceiptSigner, window: Pick<Jwk, 'nbf' | 'exp'> = {}): Jwks {
  return { keys: [{ ...signer.publicJwk, ...window }] };
}

export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Flips one bit of a base64url signature (keeps it canonical base64url of 64 bytes). */
export function flipSignature(sig: string): string {
  const bytes = Buffer.from(sig, 'base64url');
  bytes[5] = bytes[5]! ^ 0x01;
  return bytes.toString('base64url');
}

export function toJsonl(receipts: readonly unknown[]): string {
  return `${receipts.map((r) => JSON.stringify(r)).join('\n')}\n`;
}
