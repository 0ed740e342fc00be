// Structured JSON logs: one line per event on stdout, every line with the member name and the
// raft term current when it was written (so a merged log of a cluster reads as a timeline).
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config/flags.js';

export type { Logger } from 'pino';

/**
 * Creates the process logger. `currentTerm` is called for every line, so it must be cheap and
 * never throw; before the core exists it may return 0.
 */
export function createLogger(member: string, level: LogLevel, currentTerm: () => number): Logger {
  return pino({
    level,
    base: { member, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: () => ({ term: currentTerm() }),
    formatters: { level: (label) => ({ level: label }) },
  });
}
