// Adapts an async route body to express: times it under the route template, and turns any
// throw into the registry's error response. Routes return the status and JSON they answer
// with, or null when they wrote the response themselves (watch, metrics, static files).
import type { Request, Response } from 'express';
import type { ApiContext } from '../context.js';
import { sendError, sendJson } from '../respond.js';
import { parseQuery } from '../validate.js';

/** What a route body answers: a status with a JSON-serializable body and optional headers. */
export interface RouteReply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** An async route body. `null`: the body sent the response itself. */
export type RouteBody = (req: Request, res: Response) => Promise<RouteReply | null>;

/** Wraps `body` for express under the route template `route` (the histogram label). */
export function route(ctx: ApiContext, template: string, body: RouteBody): (req: Request, res: Response) => Promise<void> {
  return async (req, res) => {
    const startMs = performance.now();
    const method = req.method;
    let status: number;
    try {
      const reply = await body(req, res);
      if (reply === null) return;
      sendJson(res, reply.status, JSON.stringify(reply.body), reply.headers);
      status = reply.status;
    } catch (err) {
      status = sendError(res, err, req.originalUrl, ctx.logger);
    }
    ctx.timer.observe(template, method, status, startMs);
  };
}

/** Returns a route parameter as a string (express 5 types allow arrays for wildcards). */
export function param(req: Request, name: string): string {
  const v: unknown = (req.params as Record<string, unknown>)[name];
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.join('/');
  return '';
}

/**
 * Returns a query parameter (its first value), or undefined. Parsed strictly from the raw URL
 * (validate.ts parseQuery): a malformed percent-encoding throws BAD_REQUEST instead of turning
 * into U+FFFD the way express's lenient parser would.
 */
export function query(req: Request, name: string): string | undefined {
  const q = req.url.indexOf('?');
  return q === -1 ? undefined : parseQuery(req.url.slice(q + 1)).get(name);
}
