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

/** Sends Events; at most maxEventsPerMinute per recorder (a crash-looping reconcile cannot flood the API). */
export class EventRecorder {
  private windowStartMs = 0;
  private inWindow = 0;
  /** Events not sent because of the rate bound. */
  dropped = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly onError: (err: unknown) => void,
    private readonly maxEventsPerMinute = 120,
  ) {}

  /** Records `reason`/`message` on `subject`; never rejects. */
  async record(subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = Date.now();
    if (now - this.windowStartMs > 60_000) {
      this.windowStartMs = now;
      this.inWindow = 0;
    }
    if (++this.inWindow > this.maxEventsPerMinute) {
      this.dropped++;
      return;
    }
    const ns = subject.metadata.namespace ?? 'default';
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
