import { hash } from 'node:crypto';
import {
  ApprovalError,
  type ApprovalErrorCode,
  canonicalJson,
  type VerifiedApproval,
} from '@openexec/approval-verifier';
import { describeRun, type Handler, type HandlerRegistry, runHandler } from '@openexec/handler-registry';
import {
  type ExecutionRecord,
  type ExecutionStore,
  type SealedReceipt,
  StoreError,
} from '@openexec/nonce-store';
import type { ReceiptFields } from '@openexec/receipts';
import type { Config } from './config.js';
import { ApiError } from './errors.js';
import { legacyReceipt, pythonResultJson } from './legacy-receipt.js';
import type { ConcurrencyLimiter } from './limits.js';
import { type ExecutionObserver, noopObserver } from './observability.js';
import { describeIssues, ExecuteBodySchema, NonceSchema } from './schemas.js';

export interface ExecuteInput {
  body: unknown;
  /** The authenticated caller, when caller authentication is on. */
  caller?: { tenant: string | null; actions: readonly string[] | null } | null;
  /** The `Idempotency-Key` header, accepted as the nonce. */
  idempotencyKey?: string | undefined;
  signal?: AbortSignal;
}

export interface ExecuteOutput {
  status: number;
  /** The response body as JSON text: stored responses and receipts are spliced in, not re-encoded. */
  json: string;
  headers: Record<string, string>;
  /** For the request log. */
  outcome: string;
  replayed: boolean;
}

export type ApprovalVerifier = (
  artifact: unknown,
  request: { action: string; payload: unknown; nonce: string },
  tenant: string,
) => Promise<VerifiedApproval>;

export interface ExecutionServiceDeps {
  config: Pick<Config, 'mode' | 'tenant' | 'maxResultBytes'>;
  registry: HandlerRegistry;
  store: ExecutionStore;
  /** Present exactly in clawshield mode. */
  verifyApproval: ApprovalVerifier | null;
  observer?: ExecutionObserver;
  /** Caps concurrent runs per action; refusals happen before anything is reserved. */
  concurrency?: ConcurrencyLimiter;
}

/**
 * The execution path of SPEC §4: validate, verify the approval, reserve the nonce (and consume
 * the approval) durably, run the handler once, store the outcome durably, answer. Replays are
 * answered from the stored record and never reach a handler.
 */
export class ExecutionService {
  readonly #deps: ExecutionServiceDeps;
  readonly #observer: ExecutionObserver;

  constructor(deps: ExecutionServiceDeps) {
    this.#deps = deps;
    this.#observer = deps.observer ?? noopObserver;
  }

  async execute(input: ExecuteInput): Promise<ExecuteOutput> {
    const { registry, config } = this.#deps;
    const parsed = ExecuteBodySchema.safeParse(input.body);
    if (!parsed.success) {
      throw new ApiError(400, 'invalid_request', describeIssues(parsed.error));
    }
    const body = parsed.data;
    const nonce = this.#nonceOf(body.nonce, input.idempotencyKey);

    const caller = input.caller ?? null;
    if (caller?.actions && !caller.actions.includes(body.action)) {
      throw new ApiError(403, 'action_not_allowed_for_key', `this API key may not execute ${body.action}`);
    }
    const tenant = caller?.tenant ?? config.tenant;
    const handler = registry.get(body.action);
    if (!handler) {
      if (registry.has(body.action)) {
        throw new ApiError(400, 'action_not_allowed', `Action not allowed: ${body.action}`);
      }
      throw new ApiError(400, 'unknown_action', `Unknown action: ${body.action}`);
    }
    const payload = body.payload ?? {};
    const validInput = handler.input.safeParse(payload);
    if (!validInput.success) {
      throw new ApiError(400, 'invalid_payload', describeIssues(validInput.error, 'payload'));
    }

    let payloadJson: string;
    try {
      payloadJson = canonicalJson(payload);
    } catch (error) {
      throw new ApiError(400, 'invalid_payload', 'payload is not representable as canonical JSON', {
        cause: error,
      });
    }

    // RFC 8785 of {action, payload}: "action" sorts first, and a registered action name is
    // plain ASCII, so this is canonicalJson({action, payload}) without canonicalising twice.
    const requestDigest = digest(`{"action":${JSON.stringify(body.action)},"payload":${payloadJson}}`);

    const release = this.#deps.concurrency ? this.#deps.concurrency.tryAcquire(body.action) : () => {};
    if (!release) {
      throw new ApiError(
        429,
        'too_many_executions',
        `too many ${body.action} executions running; retry later`,
        {
          headers: { 'Retry-After': '1' },
        },
      );
    }
    // The slot is free once the execution has answered and its handler has stopped: a handler
    // that ignores its abort signal runs on after its timeout, and keeps counting.
    let holders = 1;
    const letGo = () => {
      if (--holders === 0) release();
    };
    try {
      return await this.#executeValidated({
        body,
        nonce,
        tenant,
        payload,
        payloadJson,
        requestDigest,
        handler,
        validInput: validInput.data,
        signal: input.signal,
        holdSlot: () => {
          holders++;
          return letGo;
        },
      });
    } finally {
      letGo();
    }
  }

  async #executeValidated(v: {
    body: { action: string; approval_artifact?: unknown };
    nonce: string;
    tenant: string;
    payload: Record<string, unknown>;
    payloadJson: string;
    requestDigest: string;
    handler: Handler;
    validInput: unknown;
    signal: AbortSignal | undefined;
    /** Keeps the action's concurrency slot until the returned function is called. */
    holdSlot: () => () => void;
  }): Promise<ExecuteOutput> {
    const { store, config } = this.#deps;
    const { body, nonce, tenant, payload, requestDigest, handler } = v;
    const attempt: Attempt = { tenant, nonce, action: body.action, requestDigest, approval: null };
    let approval: VerifiedApproval | null = null;
    if (this.#deps.verifyApproval) {
      try {
        approval = await (this.#deps.verifyApproval as ApprovalVerifier)(
          body.approval_artifact ?? undefined,
          { action: body.action, payload, nonce },
          tenant,
        );
      } catch (error) {
        if (error instanceof ApprovalError) {
          this.#observer.approvalRejected(error.code);
          throw await this.#refuse(attempt, 'approval_denied', approvalFailure(error));
        }
        throw error;
      }
      attempt.approval = { id: approval.approvalId, issuer: approval.issuer, kid: approval.kid };
    }

    const reserveStarted = performance.now();
    const reservation = await this.#storeCall(() =>
      store.reserve({
        tenant,
        nonce,
        action: body.action,
        requestDigest,
        payload: v.payloadJson,
        approval: approval
          ? {
              id: approval.approvalId,
              issuer: approval.issuer,
              maxUses: approval.maxUses,
              expiresAt: approval.expiresAt * 1000,
            }
          : null,
      }),
    );
    this.#observer.reserved((performance.now() - reserveStarted) / 1000);
    if (reservation.kind === 'approval_exhausted') {
      this.#observer.approvalRejected('ERR_APPROVAL_ALREADY_USED');
      const used = `Approval ${reservation.approvalId} has already been used (max ${reservation.maxUses})`;
      throw await this.#refuse(attempt, 'replay_denied', new ApiError(403, 'approval_already_used', used));
    }
    if (reservation.kind === 'existing') {
      try {
        const served = replay(reservation.execution, requestDigest);
        this.#observer.replay('served');
        return served;
      } catch (error) {
        if (error instanceof ApiError) {
          this.#observer.replay(REPLAY_KINDS[String(error.code)] ?? 'conflict');
          throw await this.#refuse(attempt, 'replay_denied', error);
        }
        throw error;
      }
    }

    const execution = reservation.execution;
    const letGo = v.holdSlot();
    let stopped = false;
    let overrunning = false;
    const outcome = await runHandler(
      handler,
      v.validInput,
      { executionId: execution.id, tenant, nonce },
      {
        maxResultBytes: config.maxResultBytes,
        onSettled: () => {
          stopped = true;
          if (overrunning) this.#observer.handlerOverrunning(body.action, -1);
          letGo();
        },
        ...(v.signal ? { signal: v.signal } : {}),
      },
    );
    if (!stopped) {
      overrunning = true;
      this.#observer.handlerOverrunning(body.action, 1);
    }
    const result = outcome.status === 'succeeded' ? outcome.result : null;
    const resultJson = pythonResultJson(result);
    const response: Record<string, unknown> = {
      id: execution.id,
      action: body.action,
      result,
      approved: true,
      receipt: legacyReceipt(execution.id, resultJson),
      status: outcome.status,
      nonce,
    };
    let status = 200;
    if (outcome.status === 'failed') {
      status = 502;
      Object.assign(response, { detail: outcome.message, code: outcome.code });
    }
    this.#observer.outcome(body.action, outcome.status);
    const resultDigest = outcome.status === 'succeeded' ? digest(canonicalJson(result)) : null;
    const responseJson = JSON.stringify(response);
    const completeStarted = performance.now();
    const errorCode = outcome.status === 'failed' ? outcome.code : null;
    const receipt = await this.#completeWithRetry(attempt, {
      id: execution.id,
      state: outcome.status,
      resultDigest,
      errorCode,
      responseStatus: status,
      responseBody: responseJson,
      receipt: this.#draft(
        attempt,
        execution.id,
        outcome.status,
        resultDigest,
        errorCode,
        describeRun(result),
      ),
    });
    this.#observer.completed((performance.now() - completeStarted) / 1000);
    return {
      status,
      json: answerJson(responseJson, false, receipt),
      headers: {},
      outcome: outcome.status,
      replayed: false,
    };
  }

  /** A receipt for a refused attempt, appended before the refusal is answered. */
  async #refuse(
    attempt: Attempt,
    outcome: 'approval_denied' | 'replay_denied',
    error: ApiError,
  ): Promise<ApiError> {
    const sealed = await this.#storeCall(() =>
      this.#deps.store.record(this.#draft(attempt, null, outcome, null, String(error.code))),
    );
    return new ApiError(error.status, error.code, error.message, {
      headers: error.headers,
      extra: { ...error.extra, signed_receipt: parseReceipt(sealed) },
      cause: error,
    });
  }

  #draft(
    attempt: Attempt,
    executionId: string | null,
    outcome: ReceiptFields['outcome'],
    resultDigest: string | null,
    errorCode: string | null,
    run: ReturnType<typeof describeRun> = null,
  ) {
    const fields: ReceiptFields = {
      exec_id: executionId,
      tenant: attempt.tenant,
      nonce: attempt.nonce,
      action: attempt.action,
      request_digest: attempt.requestDigest,
      approval: attempt.approval,
      mode: this.#deps.config.mode,
      outcome,
      result_digest: resultDigest,
      error_code: errorCode,
      isolation: run?.isolation ?? null,
      run: run?.run ?? null,
      created_at: new Date(),
    };
    return { executionId, outcome, fields };
  }

  #nonceOf(bodyNonce: string | undefined, header: string | undefined): string {
    if (header !== undefined) {
      const checked = NonceSchema.safeParse(header);
      if (!checked.success)
        throw new ApiError(400, 'invalid_request', `Idempotency-Key: ${describeIssues(checked.error)}`);
      if (bodyNonce !== undefined && bodyNonce !== header) {
        throw new ApiError(400, 'nonce_mismatch', 'the body nonce and the Idempotency-Key header differ');
      }
      return header;
    }
    if (bodyNonce === undefined) {
      throw new ApiError(
        400,
        'invalid_request',
        'nonce: required (in the body or as the Idempotency-Key header)',
      );
    }
    return bodyNonce;
  }

  async #storeCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StoreError) {
        this.#observer.storeError();
        throw new ApiError(
          503,
          'store_unavailable',
          'the execution store is unavailable; nothing was executed',
          {
            headers: { 'Retry-After': '1' },
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  /**
   * The handler has run: try hard to record it. If the store stays down the row stays reserved
   * and later turns indeterminate, never re-run. Returns the signed receipt's JSON text.
   */
  async #completeWithRetry(
    attempt: Attempt,
    completion: Parameters<ExecutionStore['complete']>[0],
  ): Promise<string | null> {
    const delays = [0, 50, 250, 1_000];
    let lastError: unknown;
    for (const delay of delays) {
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        if (lastError !== undefined) {
          // The failed try may have committed, its answer lost: then the stored outcome is this
          // one (the same response text), with its receipt; writing it again would seal a second.
          const stored = await this.#deps.store.lookup(attempt.tenant, attempt.nonce);
          if (stored?.id === completion.id && stored.responseBody === completion.responseBody) {
            return stored.receipt;
          }
        }
        const result = await this.#deps.store.complete(completion);
        // Not applied: an operator resolved the execution (its lease ran out while the handler
        // still ran). The resolution stays; the caller gets what really happened, and the
        // receipt sealed with this attempt records it.
        if (!result.applied) this.#observer.outcomeAfterResolution(completion.state);
        return result.receipt?.body ?? null;
      } catch (error) {
        this.#observer.storeError();
        lastError = error;
      }
    }
    throw new ApiError(
      503,
      'store_unavailable',
      'the action ran but its outcome could not be recorded; this nonce will be reported as indeterminate',
      { cause: lastError },
    );
  }
}

function replay(record: ExecutionRecord, requestDigest: string): ExecuteOutput {
  if (record.requestDigest !== requestDigest) {
    throw new ApiError(422, 'nonce_conflict', 'this nonce was already used for a different request');
  }
  if (record.state === 'reserved') {
    throw new ApiError(409, 'execution_in_progress', 'an execution with this nonce is still running', {
      headers: { 'Retry-After': '1' },
      extra: { id: record.id },
    });
  }
  if (record.state !== 'indeterminate' && (record.responseBody === null || record.responseStatus === null)) {
    // The nonce stays taken forever; only the stored answer was removed by the retention purge.
    throw new ApiError(
      410,
      'execution_purged',
      'this nonce was used; its stored response was purged after the retention period',
      {
        extra: { id: record.id, state: record.state, result_digest: record.resultDigest },
      },
    );
  }
  if (record.state === 'indeterminate' || record.responseBody === null || record.responseStatus === null) {
    throw new ApiError(
      409,
      'execution_indeterminate',
      'an execution with this nonce was interrupted; whether it took effect is unknown until an operator resolves it',
      { extra: { id: record.id } },
    );
  }
  return {
    status: record.responseStatus,
    json: answerJson(record.responseBody, true, record.receipt),
    headers: { 'Idempotent-Replayed': 'true' },
    outcome: record.state,
    replayed: true,
  };
}

const APPROVAL_STATUS: Partial<Record<ApprovalErrorCode, number>> = { ERR_APPROVAL_MALFORMED: 400 };

/** ERR_APPROVAL_EXPIRED -> 403 approval_expired; malformed artifacts are bad input (400). */
export function approvalFailure(error: ApprovalError): ApiError {
  const code = error.code.replace(/^ERR_/, '').toLowerCase();
  return new ApiError(APPROVAL_STATUS[error.code] ?? 403, code, error.message, {
    extra: { approval_code: error.code },
  });
}

const REPLAY_KINDS: Record<string, 'in_progress' | 'conflict' | 'indeterminate' | 'purged'> = {
  execution_in_progress: 'in_progress',
  nonce_conflict: 'conflict',
  execution_indeterminate: 'indeterminate',
  execution_purged: 'purged',
};

interface Attempt {
  tenant: string;
  nonce: string;
  action: string;
  requestDigest: string;
  approval: ReceiptFields['approval'];
}

/**
 * `{...response, replayed, signed_receipt}` as JSON text, from the stored response text and
 * the receipt's stored canonical JSON (JSON.stringify of either parsed would give the same
 * text back: neither has integer-like keys, and RFC 8785 writes strings and numbers as
 * JSON.stringify does).
 */
function answerJson(responseJson: string, replayed: boolean, receiptJson: string | null): string {
  const fields = `"replayed":${replayed},"signed_receipt":${receiptJson ?? 'null'}}`;
  return responseJson === '{}' ? `{${fields}` : `${responseJson.slice(0, -1)},${fields}`;
}

function parseReceipt(sealed: SealedReceipt | null): unknown {
  return sealed ? JSON.parse(sealed.body) : null;
}

function digest(text: string): string {
  return hash('sha256', text, 'base64url');
}
