import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './config.js';
import { ApiError } from './errors.js';

export interface ApiKey {
  id: string;
  digest: Buffer;
  /** Nonce namespace and approval audience for this caller; the service tenant when absent. */
  tenant: string | null;
  /** Actions this caller may execute; all when absent. */
  actions: readonly string[] | null;
}

const KeysFileSchema = z
  .object({
    keys: z
      .array(
        z
          .object({
            id: z.string().min(1).max(100),
            sha256: z
              .string()
              .regex(/^[0-9a-f]{64}$/, 'must be the lowercase hex SHA-256 of the key, never the key itself'),
            tenant: z.string().min(1).max(200).optional(),
            actions: z.array(z.string().min(1)).min(1).optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/** Reads OPENEXEC_API_KEYS_FILE: keys are stored as SHA-256 digests only. */
export function loadApiKeys(path: string): ApiKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`OPENEXEC_API_KEYS_FILE: cannot read ${path}: ${(error as Error).message}`);
  }
  const result = KeysFileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`OPENEXEC_API_KEYS_FILE: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const ids = new Set<string>();
  return result.data.keys.map((key) => {
    if (ids.has(key.id)) throw new ConfigError(`OPENEXEC_API_KEYS_FILE: duplicate key id ${key.id}`);
    ids.add(key.id);
    return {
      id: key.id,
      digest: Buffer.from(key.sha256, 'hex'),
      tenant: key.tenant ?? null,
      actions: key.actions ?? null,
    };
  });
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Compares against every key (no early exit) in constant time per comparison. */
export function findApiKey(keys: readonly ApiKey[], presented: string): ApiKey | null {
  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let match: ApiKey | null = null;
  for (const key of keys) {
    if (timingSafeEqual(key.digest, digest)) match = key;
  }
  return match;
}

/** Bearer authentication of an `Authorization` header: the matched key, else 401. */
export function authenticate(keys: readonly ApiKey[], authorization: string | undefined): ApiKey {
  const match = /^Bearer ([\x21-\x7e]{16,512})$/.exec(authorization ?? '');
  const caller = match?.[1] ? findApiKey(keys, match[1]) : null;
  if (!caller) {
    throw new ApiError(401, 'unauthenticated', 'a valid API key is required (Authorization: Bearer <key>)', {
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  return caller;
}
