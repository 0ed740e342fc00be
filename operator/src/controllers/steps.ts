// The shape every reconciler shares: an ordered list of steps, each returning continue,
// requeue-after (with a reason) or throwing an error (the queue then backs off).

/** What a step tells the reconciler. */
export type StepResult =
  | { readonly kind: 'continue' }
  | { readonly kind: 'requeue'; readonly afterMs: number; readonly reason: string }
  | { readonly kind: 'done' };

/** Go on with the next step. */
export const CONTINUE: StepResult = { kind: 'continue' };
/** Stop here; nothing more to do for this key now. */
export const DONE: StepResult = { kind: 'done' };

/** Stop here and look again after `afterMs`. */
export function requeueAfter(afterMs: number, reason: string): StepResult {
  return { kind: 'requeue', afterMs, reason };
}

/** A named step over a context. */
export interface Step<C> {
  readonly name: string;
  run(ctx: C): Promise<StepResult>;
}

/** Outcome of a reconcile: requeue after `afterMs` (undefined = only on the next change). */
export interface ReconcileResult {
  readonly requeueAfterMs: number | undefined;
  readonly reason: string;
}

/** Runs `steps` in order until one does not continue. Errors propagate. */
export async function runSteps<C>(steps: readonly Step<C>[], ctx: C): Promise<ReconcileResult> {
  for (const step of steps) {
    const r = await step.run(ctx);
    if (r.kind === 'requeue') return { requeueAfterMs: r.afterMs, reason: `${step.name}: ${r.reason}` };
    if (r.kind === 'done') return { requeueAfterMs: undefined, reason: step.name };
  }
  return { requeueAfterMs: undefined, reason: 'all steps done' };
}
