// Records a core/v1 Event for each operator decision, so `kubectl describe rkv NAME` tells the story.
// Best effort: a failed Event is logged by the caller's onError and never fails a reconcile.
import { randomBytes } from 'node:crypto';
import type { KubeClient } from './rest.js';
import { resourcePath } from './rest.js';

/** What an Event is about. */
export interface EventSubject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string };
}

/** Bounds of the Event rate. */
export interface EventBudgetOptions {
  /** Events per object per minute: one flapping cluster cannot use up the budget of the others. */
  readonly perObjectPerMinute: number;
  /** Events per minute over all objects: a backstop on the API load. */
  readonly totalPerMinute: number;
  /** Objects whose counts are kept; the oldest window is forgotten beyond it. */
  readonly maxTrackedObjects: number;
}

/** Defaults for the operator. */
export const DEFAULT_EVENT_BUDGET: EventBudgetOptions = { perObjectPerMinute: 30, totalPerMinute: 600, maxTrackedObjects: 10_000 };

const WINDOW_MS = 60_000;

/** Fixed one-minute windows per object and in total (pure: the caller passes the time). */
export class EventBudget {
  private readonly perObject = new Map<string, { startMs: number; count: number }>();
  private total = { startMs: 0, count: 0 };

  constructor(private readonly options: EventBudgetOptions = DEFAULT_EVENT_BUDGET) {}

  /** True when one more Event about `key` fits now; counts it. */
  take(key: string, nowMs: number): boolean {
    if (nowMs - this.total.startMs >= WINDOW_MS) this.total = { startMs: nowMs, count: 0 };
    let w = this.perObject.get(key);
    if (w === undefined || nowMs - w.startMs >= WINDOW_MS) {
      this.perObject.delete(key);
      w = { startMs: nowMs, count: 0 };
      this.perObject.set(key, w);
      // Map order is insertion order: the first key has the oldest window.
      while (this.perObject.size > this.options.maxTrackedObjects) {
        const oldest = this.perObject.keys().next().value;
        if (oldest === undefined) break;
        this.perObject.delete(oldest);
      }
    }
    if (w.count >= this.options.perObjectPerMinute || this.total.count >= this.options.totalPerMinute) return false;
    w.count++;
    this.total.count++;
    return true;
  }

  /** Objects tracked now (bounded by maxTrackedObjects). */
  get trackedObjects(): number {
    return this.perObject.size;
  }
}

/** Sends Events within an EventBudget (a crash-looping reconcile cannot flood the API, nor one object silence the others). */
export class EventRecorder {
  private readonly budget: EventBudget;
  /** Events not sent because of the rate bound. */
  dropped = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly onError: (err: unknown) => void,
    budget: EventBudgetOptions = DEFAULT_EVENT_BUDGET,
  ) {
    this.budget = new EventBudget(budget);
  }

  /** Records `reason`/`message` on `subject`; never rejects. */
  async record(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = Date.now();
    const ns = subject.metadata.namespace ?? 'default';
    if (!this.budget.take(`${subject.kind}/${ns}/${subject.metadata.name}`, now)) {
      this.dropped++;
      return;
    }
    const ts = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      await this.client.create(resourcePath('v1', 'Event', ns), {
        apiVersion: 'v1', kind: 'Event',
        metadata: { name: `${subject.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
        involvedObject: { apiVersion: subject.apiVersion, kind: subject.kind, name: subject.metadata.name, namespace: ns, ...(subject.metadata.uid === undefined ? {} : { uid: subject.metadata.uid }) },
        reason, message: message.slice(0, 1024), type,
        firstTimestamp: ts, lastTimestamp: ts, count: 1,
        source: { component: this.component },
        reportingComponent: this.component, reportingInstance: this.component,
      });
    } catch (err) {
      this.onError(err);
    }
  }
}
