import type { Logger } from '../log/logger';
import type { OutboxEntry, OutboxRepository } from '../store/repositories/outbox';
import type { DspClient, DspResponse } from '../protocol/dsp/client';
import { describeError } from '../errors';

/** What the owners of the processes learn about their messages. */
export interface OutboxObserver {
  /** Last-moment completion of an entry (e.g. a peer pid learnt after enqueueing); null = not ready yet. */
  prepare(entry: OutboxEntry): Promise<OutboxEntry | null>;
  delivered(entry: OutboxEntry, response: DspResponse): void;
  /** The peer refused the message for good (a 4xx other than 404/408/425/429), or the SSRF guard refused its address (status 0). */
  rejected(entry: OutboxEntry, response: DspResponse): void;
  /** Still undeliverable when its give-up time came. */
  gaveUp(entry: OutboxEntry, lastError: string): void;
}

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}

/** Statuses worth retrying: the peer is down, busy, or not ready for this message yet (TCK registers handlers late). */
export function isRetryable(status: number): boolean {
  return status === 404 || status === 408 || status === 425 || status === 429 || status === 401 || status === 403 || status >= 500;
}

/** Exponential backoff with ±50% jitter, capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.5 + random()));
}

/**
 * Delivers the durable outbox. Messages of one process leave strictly in order, one at a time;
 * different processes go in parallel. Wakes up at the next due time (a timer, no polling), or when
 * kicked after a commit. A restart simply finds the rows again.
 */
export class OutboxDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly inFlight = new Map<string, Promise<void>>();
  private stopped = false;
  private kickPending = false;

  constructor(
    private readonly deps: {
      outbox: OutboxRepository;
      /** Runs the removal of a settled entry and its observer's bookkeeping as one transaction. */
      transaction: <T>(fn: () => T) => T;
      client: DspClient;
      observer: OutboxObserver;
      retry: RetryPolicy;
      logger: Logger;
      batchSize?: number;
    },
  ) {}

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /**
   * Send whatever is due now, then sleep until the next due entry. Kicks within one turn of the
   * event loop (every commit and every finished delivery kicks) are coalesced into one scan.
   */
  kick(): void {
    if (this.stopped || this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.scan();
    });
  }

  private scan(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const entry of this.deps.outbox.due(now, this.deps.batchSize ?? 64)) {
      if (this.inFlight.has(entry.processId)) continue;
      const job = this.deliver(entry).finally(() => {
        this.inFlight.delete(entry.processId);
        this.kick();
      });
      this.inFlight.set(entry.processId, job);
    }
    this.schedule();
  }

  private schedule(): void {
    const next = this.deps.outbox.nextDueAt();
    if (next === null || this.stopped) return;
    if (this.timer && next >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.scan();
    }, Math.max(0, next - Date.now()));
    this.timer.unref();
  }

  private async deliver(queued: OutboxEntry): Promise<void> {
    let error: string;
    let entry: OutboxEntry | null;
    try {
      entry = await this.deps.observer.prepare(queued);
    } catch (err) {
      this.deps.outbox.scheduleRetry(queued.id, Date.now() + backoffDelay(queued.attempts, this.deps.retry), `preparing the message failed: ${describeError(err)}`);
      return;
    }
    if (!entry) {
      this.deps.outbox.scheduleRetry(queued.id, Date.now() + this.deps.retry.initialDelayMs, 'waiting for the peer pid');
      return;
    }
    try {
      const response = await this.deps.client.post(entry.url, entry.audience, entry.body);
      if (response.status >= 200 && response.status < 300) {
        this.settle(entry, () => this.deps.observer.delivered(entry, response));
        return;
      }
      if (!isRetryable(response.status)) {
        this.settle(entry, () => this.deps.observer.rejected(entry, response)); // it will never be accepted
        return;
      }
      error = `HTTP ${response.status}`;
    } catch (err) {
      error = describeError(err);
      // The SSRF guard refused the address (before connecting, or at resolution time): no retry will change that.
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('ADDRESS_')) {
        this.deps.logger.warn('peer address refused by the SSRF guard: message rejected, not retried', { processId: entry.processId, messageType: entry.messageType, error });
        this.settle(entry, () => this.deps.observer.rejected(entry, { status: 0, body: { reason: [error] } }));
        return;
      }
    }
    const next = Date.now() + backoffDelay(entry.attempts, this.deps.retry);
    if (next > entry.giveUpAt) {
      this.deps.logger.warn('giving up on a message', { processId: entry.processId, messageType: entry.messageType, attempts: entry.attempts + 1, error });
      this.settle(entry, () => this.deps.observer.gaveUp(entry, error));
      return;
    }
    this.deps.outbox.scheduleRetry(entry.id, next, error);
    this.deps.logger.debug('message delivery failed, will retry', { processId: entry.processId, messageType: entry.messageType, attempt: entry.attempts + 1, error });
  }

  /** Remove a settled entry and record the outcome in one transaction: a crash cannot lose one or the other. */
  private settle(entry: OutboxEntry, record: () => void): void {
    this.deps.transaction(() => {
      this.deps.outbox.delivered(entry.id);
      record();
    });
  }

  /** Stop scheduling and wait for deliveries under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
