import { z } from 'zod';

// Printable, no whitespace at the ends, no control characters: nonces appear in logs and headers.
export const NonceSchema = z
  .string()
  .min(1, 'nonce must not be empty')
  .max(200, 'nonce must be at most 200 characters')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'nonce must not contain control characters')
  .refine((value) => value.trim() === value, 'nonce must not start or end with whitespace')
  // With the `u` flag a surrogate pair is one code point: this finds lone halves only. A nonce
  // with one could not be canonicalised into its receipt after the action ran.
  .refine((value) => !/\p{Surrogate}/u.test(value), 'nonce must be well-formed Unicode (a lone surrogate)');

export const ExecuteBodySchema = z
  .object({
    action: z.string().min(1, 'action must not be empty').max(64, 'action must be at most 64 characters'),
    payload: z.record(z.string(), z.unknown()).nullable().optional(),
    nonce: NonceSchema.optional(),
    // Its shape is the verifier's business: a wrong one is answered 400 approval_malformed.
    approval_artifact: z.unknown().optional(),
  })
  .strict();
export type ExecuteBody = z.infer<typeof ExecuteBodySchema>;

export const LegacyReceiptVerifySchema = z
  .object({
    exec_id: z.string().min(1).max(200),
    result: z.unknown(),
    receipt: z.string().min(1).max(200),
  })
  .strict();

const seq = z
  .string()
  .regex(/^\d{1,15}$/, 'expected a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1));

export const ReceiptExportQuerySchema = z
  .object({ chain: z.string().min(1).max(200).optional(), from: seq.default(1), to: seq.optional() })
  .strict();

/** At most 10 names, each cut at 64 characters: the answer stays small whatever was sent. */
function namesOf(keys: readonly string[]): string {
  const shown = keys.slice(0, 10).map((key) => (key.length > 64 ? `${key.slice(0, 64)}…` : key));
  return keys.length > 10 ? `${shown.join(', ')} and ${keys.length - 10} more` : shown.join(', ');
}

/** One line per issue, naming the field: `payload.a: expected number`. */
export function describeIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .slice(0, 10)
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      const message =
        issue.code === 'unrecognized_keys' ? `unknown field(s) ${namesOf(issue.keys)}` : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join('; ');
}

// Response shapes, used for the OpenAPI document (and its examples are checked against them).
export const ErrorBodySchema = z.object({ detail: z.string(), code: z.string() }).catchall(z.unknown()).meta({
  description: 'Every error: a human detail and a stable machine code (plus context such as signed_receipt)',
});

export const ExecuteResponseSchema = z
  .object({
    id: z.string(),
    action: z.string(),
    result: z.unknown(),
    approved: z.boolean(),
    receipt: z.string().meta({
      description:
        'Legacy receipt: hex SHA-256 of "{id}:{json.dumps(result, sort_keys=True)}" (a checksum, not evidence)',
    }),
    status: z.enum(['succeeded', 'failed']),
    nonce: z.string(),
    replayed: z.boolean(),
    signed_receipt: z.record(z.string(), z.unknown()).nullable(),
  })
  .catchall(z.unknown());

export const HealthSchema = z
  .object({
    status: z.literal('ok'),
    exec_mode: z.enum(['demo', 'clawshield']),
    signature_verification: z.enum(['enabled', 'disabled']),
    restriction: z.enum(['open', 'restricted']),
    allow_list: z.array(z.string()).optional(),
    warning: z.string().optional(),
    approval_keys: z.number().int().optional(),
    insecure_demo: z.string().optional(),
  })
  .strict();

export const ReadySchema = z
  .object({ ready: z.boolean(), detail: z.string().optional(), code: z.string().optional() })
  .strict();
export const VersionSchema = z.object({ version: z.string(), timestamp: z.string() }).strict();
export const RootSchema = z
  .object({ service: z.literal('OpenExec'), status: z.literal('running'), version: z.string() })
  .strict();
export const ActionsSchema = z
  .object({
    actions: z.array(
      z.object({
        name: z.string(),
        version: z.string(),
        description: z.string().nullable(),
        sideEffects: z.boolean(),
        timeoutMs: z.number(),
        inputSchema: z.unknown(),
        outputSchema: z.unknown(),
      }),
    ),
  })
  .strict();
export const SignedReceiptSchema = z
  .record(z.string(), z.unknown())
  .meta({ description: 'A signed receipt (see packages/receipts)' });
export const V1ReceiptVerifySchema = z.object({ receipt: SignedReceiptSchema }).strict();
export const ReceiptVerifyAnswerSchema = z
  .object({ valid: z.boolean(), reason: z.string().nullable().optional() })
  .strict();
export const CheckpointSchema = z
  .record(z.string(), z.unknown())
  .meta({ description: 'A signed checkpoint (chain, seq, head, created_at, signer_kid, sig)' });
export const JwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).strict();
