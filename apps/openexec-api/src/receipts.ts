import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  type ChainHead,
  parseDatabaseUrl,
  type ReceiptDraft,
  type ReceiptSealer,
} from '@openexec/nonce-store';
import {
  createReceiptSigner,
  generateSigningKey,
  type Jwks,
  type ReceiptFields,
  type ReceiptSigner,
} from '@openexec/receipts';
import { ConfigError } from './config.js';

export const DEFAULT_RECEIPT_KEY_FILE = 'openexec-receipt-key.pem';

/** Where the signing key lives: the configured file, else next to the SQLite database, else the working directory. */
export function receiptKeyPath(configured: string | null, dbUrl: string, cwd = process.cwd()): string {
  if (configured) return resolve(cwd, configured);
  const location = parseDatabaseUrl(dbUrl, cwd);
  return location.dialect === 'sqlite'
    ? join(dirname(location.file), DEFAULT_RECEIPT_KEY_FILE)
    : join(cwd, DEFAULT_RECEIPT_KEY_FILE);
}

/**
 * Loads the receipt signing key, generating it (mode 0600, never overwriting) on first start.
 * A key file readable by group or others is refused: anyone who can read it can forge receipts.
 */
export function loadReceiptSigner(
  path: string,
  variable = 'OPENEXEC_RECEIPT_KEY_FILE',
): { signer: ReceiptSigner; generated: boolean } {
  let generated = false;
  try {
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, generateSigningKey().privateKeyPem);
    } finally {
      closeSync(fd);
    }
    generated = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigError(
        `${variable}: cannot create the receipt signing key at ${path}: ${(error as Error).message}`,
      );
    }
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `${variable}: ${path} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${path}`,
    );
  }
  try {
    return { signer: createReceiptSigner(readFileSync(path, 'utf8')), generated };
  } catch (error) {
    throw new ConfigError(
      `${variable}: ${path} is not an Ed25519 private key (PKCS#8 PEM): ${(error as Error).message}`,
    );
  }
}

/** Signs and chains receipts for the store, inside its write transaction. */
export function createReceiptSealer(signer: ReceiptSigner, chain: string): ReceiptSealer {
  return {
    chain,
    seal(head: ChainHead | null, drafts: readonly ReceiptDraft[]) {
      let current = head;
      return drafts.map((draft) => {
        const { receipt, hash, json } = signer.signNext(current, chain, draft.fields as ReceiptFields);
        current = { seq: receipt.seq, hash };
        return { chain, seq: receipt.seq, hash, body: json };
      });
    },
  };
}

/** The published key set: every receipt key ever registered, with its validity window (epoch seconds). */
export function toJwks(
  keys: ReadonlyArray<{ publicJwk: string; notBefore: number; notAfter: number | null }>,
): Jwks {
  return {
    keys: keys.map((key) => ({
      ...(JSON.parse(key.publicJwk) as Jwks['keys'][number]),
      nbf: Math.floor(key.notBefore / 1000),
      ...(key.notAfter === null ? {} : { exp: Math.ceil(key.notAfter / 1000) }),
    })),
  };
}
