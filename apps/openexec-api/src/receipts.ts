import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseDatabaseUrl, type ReceiptSealerModule } from '@openexec/nonce-store';
import { createReceiptSigner, generateSigningKey, type Jwks, type ReceiptSigner } from '@openexec/receipts';
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
): { signer: ReceiptSigner; privateKeyPem: string; generated: boolean } {
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
  const privateKeyPem = readFileSync(path, 'utf8');
  try {
    return { signer: createReceiptSigner(privateKeyPem), privateKeyPem, generated };
  } catch (error) {
    throw new ConfigError(
      `${variable}: ${path} is not an Ed25519 private key (PKCS#8 PEM): ${(error as Error).message}`,
    );
  }
}

/**
 * The store's receipt sealer, named by module so that the SQLite write thread builds its own
 * (a thread cannot be handed a signing function, only data).
 */
export function receiptSealerModule(privateKeyPem: string, chain: string): ReceiptSealerModule {
  return {
    chain,
    module: pathToFileURL(createRequire(import.meta.url).resolve('@openexec/receipts')).href,
    export: 'createChainSealer',
    args: [privateKeyPem, chain],
  };
}

/** The published key set: every receipt key ever registered, with its validity window (epoch seconds). */
export function toJwks(
  keys: ReadonlyArray<{ publicJwk: string; chain: string; notBefore: number; notAfter: number | null }>,
): Jwks {
  return {
    keys: keys.map((key) => ({
      ...(JSON.parse(key.publicJwk) as Jwks['keys'][number]),
      // Each key signs its own replica's chain only; verifiers refuse it on any other.
      chain: key.chain,
      nbf: Math.floor(key.notBefore / 1000),
      ...(key.notAfter === null ? {} : { exp: Math.ceil(key.notAfter / 1000) }),
    })),
  };
}
