import { randomUUID } from 'node:crypto';
import { MockError } from './errors.js';
import {
  type ApprovalFormat,
  type Approver,
  type LegacyArtifact,
  type MintedLegacy,
  type MintedV1,
  mintApproval,
} from './mint.js';

export type RequestStatus = 'pending' | 'approved' | 'denied';

/** What an agent asks the approver for. Validated by the caller (HTTP: zod). */
export interface NewApprovalRequest {
  action: string;
  payload?: Record<string, unknown>;
  nonce?: string;
  reason?: string;
}

export interface ApprovalRequestRecord {
  id: string;
  status: RequestStatus;
  action: string;
  payload: Record<string, unknown>;
  nonce: string | null;
  reason: string | null;
  created_at: string;
  decided_at: string | null;
  format: ApprovalFormat | null;
  artifact: string | LegacyArtifact | null;
  claims: MintedV1['claims'] | MintedLegacy['claims'] | null;
}

export interface ApproveOptions {
  format?: ApprovalFormat;
  ttlSeconds?: number;
  max?: number;
}

export interface QueueOptions {
  /** Most requests kept; when full the oldest decided one is dropped, else submit fails. Default 1000. */
  maxRequests?: number;
  newId?: () => string;
}

/**
 * The approval queue: agents submit, a human approves or denies, approving mints the artifact.
 * In memory only (a development tool): a restart forgets every request.
 */
export class ApprovalQueue {
  readonly #approver: Approver;
  readonly #maxRequests: number;
  readonly #newId: () => string;
  readonly #requests = new Map<string, ApprovalRequestRecord>();

  constructor(approver: Approver, options: QueueOptions = {}) {
    const maxRequests = options.maxRequests ?? 1000;
    if (!Number.isSafeInteger(maxRequests) || maxRequests < 1) {
      throw new TypeError('maxRequests must be a positive integer');
    }
    this.#approver = approver;
    this.#maxRequests = maxRequests;
    this.#newId = options.newId ?? randomUUID;
  }

  submit(input: NewApprovalRequest): ApprovalRequestRecord {
    if (this.#requests.size >= this.#maxRequests) this.#evictOneDecided();
    const record: ApprovalRequestRecord = {
      id: this.#newId(),
      status: 'pending',
      action: input.action,
      payload: input.payload ?? {},
      nonce: input.nonce ?? null,
      reason: input.reason ?? null,
      created_at: this.#approver.now().toISOString(),
      decided_at: null,
      format: null,
      artifact: null,
      claims: null,
    };
    if (this.#requests.has(record.id)) throw new TypeError('newId returned a duplicate id');
    this.#requests.set(record.id, record);
    return structuredClone(record);
  }

  /** Newest first. */
  list(filter: { status?: RequestStatus } = {}): ApprovalRequestRecord[] {
    return [...this.#requests.values()]
      .filter((record) => filter.status === undefined || record.status === filter.status)
      .reverse()
      .map((record) => structuredClone(record));
  }

  get(id: string): ApprovalRequestRecord {
    return structuredClone(this.#find(id));
  }

  /**
   * Mints the approval for exactly the requested action and payload. A v1 approval is bound
   * to the request's nonce when it named one; the legacy format cannot bind a nonce.
   */
  approve(id: string, options: ApproveOptions = {}): ApprovalRequestRecord {
    const record = this.#pending(id);
    const format = options.format ?? 'v1';
    const minted = mintApproval(this.#approver, format, {
      action: record.action,
      payload: record.payload,
      ...(format === 'v1' && record.nonce !== null ? { nonce: record.nonce } : {}),
      ...(options.max === undefined ? {} : { max: options.max }),
      ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
    });
    Object.assign(record, {
      status: 'approved',
      decided_at: this.#approver.now().toISOString(),
      format: minted.format,
      artifact: minted.artifact,
      claims: minted.claims,
    } satisfies Partial<ApprovalRequestRecord>);
    return structuredClone(record);
  }

  deny(id: string): ApprovalRequestRecord {
    const record = this.#pending(id);
    record.status = 'denied';
    record.decided_at = this.#approver.now().toISOString();
    return structuredClone(record);
  }

  #find(id: string): ApprovalRequestRecord {
    const record = this.#requests.get(id);
    if (!record) throw new MockError('ERR_MOCK_NOT_FOUND', 'no such request');
    return record;
  }

  #pending(id: string): ApprovalRequestRecord {
    const record = this.#find(id);
    if (record.status !== 'pending') {
      throw new MockError('ERR_MOCK_NOT_PENDING', `request is already ${record.status}`);
    }
    return record;
  }

  #evictOneDecided(): void {
    for (const [id, record] of this.#requests) {
      if (record.status !== 'pending') {
        this.#requests.delete(id);
        return;
      }
    }
    throw new MockError('ERR_MOCK_QUEUE_FULL', `the queue holds ${this.#maxRequests} pending requests`);
  }
}
