import { z } from 'zod';
import {
  ActionsSchema,
  CheckpointSchema,
  ErrorBodySchema,
  ExecuteBodySchema,
  ExecuteResponseSchema,
  HealthSchema,
  JwksSchema,
  LegacyReceiptVerifySchema,
  ReadySchema,
  ReceiptVerifyAnswerSchema,
  RootSchema,
  SignedReceiptSchema,
  V1ReceiptVerifySchema,
  VersionSchema,
} from './schemas.js';
import { VERSION } from './version.js';

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  request?: { schema: z.ZodType; example: unknown };
  responses: Record<
    string,
    { description: string; schema?: z.ZodType; example?: unknown; contentType?: string }
  >;
  auth?: boolean;
}

const RECEIPT_EXAMPLE = {
  v: 'openexec-receipt/1',
  chain: 'host:5000',
  seq: 1,
  prev: '0'.repeat(64),
  exec_id: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  tenant: 'default',
  nonce: 'n-1',
  action: 'echo',
  request_digest: 'abc',
  approval: null,
  mode: 'demo',
  outcome: 'succeeded',
  result_digest: 'def',
  error_code: null,
  isolation: null,
  created_at: '2026-11-22T03:04:05.678Z',
  signer_kid: 'kid',
  sig: 'sig',
};
const error = (detail: string, code: string) => ({
  description: detail,
  schema: ErrorBodySchema,
  example: { detail, code },
});

/** Every route of the service; the OpenAPI test checks this list against the Express router. */
export const OPERATIONS: readonly Operation[] = [
  {
    method: 'get',
    path: '/',
    summary: 'Service identity',
    responses: {
      '200': {
        description: 'running',
        schema: RootSchema,
        example: { service: 'OpenExec', status: 'running', version: VERSION },
      },
    },
  },
  {
    method: 'get',
    path: '/health',
    summary: 'Mode, signature verification, allow-list',
    responses: {
      '200': {
        description: 'health',
        schema: HealthSchema,
        example: {
          status: 'ok',
          exec_mode: 'demo',
          signature_verification: 'disabled',
          restriction: 'open',
          warning: 'No execution allow-list configured',
        },
      },
    },
  },
  {
    method: 'get',
    path: '/ready',
    summary: 'Database reachable and migrated, keys loaded',
    responses: {
      '200': { description: 'ready', schema: ReadySchema, example: { ready: true } },
      '503': {
        description: 'not ready',
        schema: ReadySchema,
        example: { ready: false, detail: 'database unreachable', code: 'not_ready' },
      },
    },
  },
  {
    method: 'get',
    path: '/version',
    summary: 'Version and time',
    responses: {
      '200': {
        description: 'version',
        schema: VersionSchema,
        example: { version: VERSION, timestamp: '2026-11-22T03:04:05.678000' },
      },
    },
  },
  {
    method: 'get',
    path: '/actions',
    summary: 'Allowed actions with input and output JSON Schemas',
    responses: {
      '200': {
        description: 'actions',
        schema: ActionsSchema,
        example: {
          actions: [
            {
              name: 'echo',
              version: '1.0.0',
              description: null,
              sideEffects: false,
              timeoutMs: 1000,
              inputSchema: {},
              outputSchema: {},
            },
          ],
        },
      },
    },
  },
  {
    method: 'post',
    path: '/execute',
    summary: 'Execute an approved action at most once per nonce',
    auth: true,
    request: {
      schema: ExecuteBodySchema,
      example: { action: 'echo', payload: { msg: 'hello' }, nonce: 'unique-1' },
    },
    responses: {
      '200': {
        description: 'executed, or the stored answer of a completed execution (replayed: true)',
        schema: ExecuteResponseSchema,
        example: {
          id: RECEIPT_EXAMPLE.exec_id,
          action: 'echo',
          result: { echo: { msg: 'hello' } },
          approved: true,
          receipt: 'ab'.repeat(32),
          status: 'succeeded',
          nonce: 'unique-1',
          replayed: false,
          signed_receipt: RECEIPT_EXAMPLE,
        },
      },
      '400': error('Unknown action: rm', 'unknown_action'),
      '401': error('a valid API key is required (Authorization: Bearer <key>)', 'unauthenticated'),
      '403': error('Approval artifact expired', 'approval_expired'),
      '409': error('an execution with this nonce is still running', 'execution_in_progress'),
      '410': error(
        'this nonce was used; its stored response was purged after the retention period',
        'execution_purged',
      ),
      '413': error('request body is larger than the configured limit', 'payload_too_large'),
      '415': error('Content-Type must be application/json', 'unsupported_media_type'),
      '422': error('this nonce was already used for a different request', 'nonce_conflict'),
      '429': error('too many requests; retry later', 'rate_limited'),
      '502': error('handler exceeded 1000 ms', 'handler_timeout'),
      '503': error('the execution store is unavailable; nothing was executed', 'store_unavailable'),
    },
  },
  {
    method: 'post',
    path: '/receipts/verify',
    summary: 'Verify a legacy receipt triple, or a signed receipt',
    request: {
      schema: z.union([LegacyReceiptVerifySchema, V1ReceiptVerifySchema]),
      example: {
        exec_id: RECEIPT_EXAMPLE.exec_id,
        result: '{"echo": {"msg": "hello"}}',
        receipt: 'ab'.repeat(32),
      },
    },
    responses: {
      '200': { description: 'verdict', schema: ReceiptVerifyAnswerSchema, example: { valid: true } },
      '400': error('exec_id: expected string', 'invalid_request'),
    },
  },
  {
    method: 'get',
    path: '/receipts/{id}',
    summary: "The receipt of an execution (a key limited to a tenant: that tenant's only)",
    auth: true,
    responses: {
      '200': { description: 'receipt', schema: SignedReceiptSchema, example: RECEIPT_EXAMPLE },
      '404': error('no receipt for execution x', 'not_found'),
    },
  },
  {
    method: 'get',
    path: '/receipts',
    summary: 'Export a receipt chain as JSON Lines (query: chain, from, to)',
    auth: true,
    responses: {
      '200': { description: 'one signed receipt per line', contentType: 'application/x-ndjson' },
      '403': error(
        "the chain export holds every tenant's receipts: it needs a key not limited to a tenant",
        'tenant_key_not_allowed',
      ),
    },
  },
  {
    method: 'get',
    path: '/checkpoints/latest',
    summary: 'A signed checkpoint of this process chain head',
    responses: {
      '200': {
        description: 'checkpoint',
        schema: CheckpointSchema,
        example: {
          v: 'openexec-checkpoint/1',
          chain: 'host:5000',
          seq: 1,
          head: '0'.repeat(64),
          created_at: '2026-11-22T03:04:05.678Z',
          signer_kid: 'kid',
          sig: 'sig',
        },
      },
      '404': error('no receipt has been issued yet', 'not_found'),
    },
  },
  {
    method: 'get',
    path: '/.well-known/openexec-keys.json',
    summary: 'Receipt signing keys (current and retired) as JWKS',
    responses: {
      '200': {
        description: 'JWKS',
        schema: JwksSchema,
        example: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'x', kid: 'kid', nbf: 1 }] },
      },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    responses: { '200': { description: 'text exposition format', contentType: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document',
    responses: { '200': { description: 'OpenAPI 3.1' } },
  },
];

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

export function buildOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const responses = Object.fromEntries(
      Object.entries(op.responses).map(([status, r]) => [
        status,
        {
          description: r.description,
          ...(r.schema || r.contentType
            ? {
                content: {
                  [r.contentType ?? 'application/json']: {
                    ...(r.schema ? { schema: jsonSchema(r.schema, 'output') } : {}),
                    ...(r.example !== undefined ? { example: r.example } : {}),
                  },
                },
              }
            : {}),
        },
      ]),
    );
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method] = {
      summary: op.summary,
      ...(op.auth ? { security: [{}, { apiKey: [] }] } : {}),
      ...(op.request
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': {
                  schema: jsonSchema(op.request.schema, 'input'),
                  example: op.request.example,
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'OpenExec API',
      version: VERSION,
      description: 'Governed, exactly-once execution with signed receipts.',
    },
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'Only when OPENEXEC_API_KEYS_FILE is configured',
        },
      },
    },
    paths,
  };
}
