// Renders the OpenAPI document as docs/api.md, the reference people read (scripts/gen-api-docs.mjs
// writes it; a unit test checks it is current). Kept here, small and dependency-free, because the
// well-known renderers emit HTML sites or pull in a browser toolchain; a Markdown page in the
// repository is what the README links to.
import { API_ERRORS } from './errors.js';
import type { ApiErrorCode } from './errors.js';
import type { Json } from './openapi.js';

type Obj = { readonly [k: string]: Json };

const METHODS = ['get', 'head', 'put', 'post', 'delete', 'options', 'patch', 'trace'] as const;

function isObj(v: Json | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follows a local `$ref` (`#/components/...`). */
function deref(doc: Obj, v: Json | undefined): Json | undefined {
  if (!isObj(v) || typeof v['$ref'] !== 'string') return v;
  let cur: Json | undefined = doc;
  for (const part of v['$ref'].slice(2).split('/')) cur = isObj(cur) ? cur[part] : undefined;
  return cur;
}

function refName(v: Json | undefined): string | null {
  return isObj(v) && typeof v['$ref'] === 'string' ? v['$ref'].split('/').pop() ?? null : null;
}

/** A one-line type summary of a schema: `string (1..4096)`, `integer 0..`, `[TxnOp]`, a link. */
function typeOf(doc: Obj, s: Json | undefined): string {
  const name = refName(s);
  if (name !== null) return `[${name}](#${name.toLowerCase()})`;
  if (!isObj(s)) return 'any';
  if (Array.isArray(s['enum'])) return (s['enum']).map((e) => `\`${String(e)}\``).join(' | ');
  if (s['const'] !== undefined) return `\`${JSON.stringify(s['const'])}\``;
  if (Array.isArray(s['oneOf'])) return (s['oneOf']).map((x) => typeOf(doc, x)).join(' or ');
  if (Array.isArray(s['allOf'])) return typeOf(doc, s['allOf'][0]);
  const t = Array.isArray(s['type']) ? s['type'].join(' | ') : String(s['type'] ?? 'object');
  const parts: string[] = [t === 'array' ? `array of ${typeOf(doc, s['items'])}` : t];
  if (s['minLength'] !== undefined || s['maxLength'] !== undefined) parts.push(`length ${String(s['minLength'] ?? 0)}..${String(s['maxLength'] ?? '')}`);
  if (s['minimum'] !== undefined || s['maximum'] !== undefined) parts.push(`${String(s['minimum'] ?? '')}..${String(s['maximum'] ?? '')}`);
  if (s['maxItems'] !== undefined) parts.push(`at most ${String(s['maxItems'])}`);
  if (typeof s['pattern'] === 'string') parts.push(`pattern \`${s['pattern']}\``);
  if (s['format'] !== undefined) parts.push(String(s['format']));
  return parts.join(', ');
}

const cell = (s: Json | undefined): string => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function exampleOf(media: Obj): Json | undefined {
  return media['example'];
}

function block(v: Json, lang: string): string {
  return `\`\`\`${lang}\n${typeof v === 'string' ? v.trimEnd() : JSON.stringify(v, null, 2)}\n\`\`\``;
}

/** docs/api.md from the document. */
export function renderApiMarkdown(doc: Obj): string {
  const out: string[] = [];
  const info = doc['info'] as Obj;
  const paths = doc['paths'] as Obj;
  const components = doc['components'] as Obj;
  out.push(`# ${String(info['title'])} ${String(info['version'])}`, '');
  out.push('<!-- Generated from daemon/src/api/openapi.ts by `node scripts/gen-api-docs.mjs`; do not edit by hand. -->', '');
  out.push(String(info['description']), '');
  out.push('The same document, machine-readable: `GET /v1/openapi.json` on any member, or [openapi.json](openapi.json) here.', '');
  out.push('## Operations', '', '| method | path | summary |', '|---|---|---|');
  const ops: { method: string; path: string; op: Obj; pathItem: Obj }[] = [];
  for (const [p, item] of Object.entries(paths)) {
    if (!isObj(item)) continue;
    for (const m of METHODS) {
      const op = item[m];
      if (isObj(op)) ops.push({ method: m.toUpperCase(), path: p, op, pathItem: item });
    }
  }
  const anchor = (method: string, path: string): string => `${method}-${path}`.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  for (const o of ops) out.push(`| ${o.method} | [\`${o.path}\`](#${anchor(o.method, o.path)}) | ${cell(o.op['summary'])} |`);
  out.push('');
  for (const o of ops) {
    out.push(`### ${o.method} ${o.path}`, '');
    if (o.op['summary'] !== undefined) out.push(`**${String(o.op['summary'])}.**${o.op['description'] !== undefined ? ` ${String(o.op['description'])}` : ''}`, '');
    const params = [...((o.pathItem['parameters'] as readonly Json[] | undefined) ?? []), ...((o.op['parameters'] as readonly Json[] | undefined) ?? [])]
      .map((p) => deref(doc, p)).filter(isObj);
    if (params.length > 0) {
      out.push('| parameter | in | required | type | description |', '|---|---|---|---|---|');
      for (const p of params) out.push(`| \`${String(p['name'])}\` | ${String(p['in'])} | ${p['required'] === true ? 'yes' : 'no'} | ${cell(typeOf(doc, p['schema']))} | ${cell(p['description'])} |`);
      out.push('');
    }
    const body = deref(doc, o.op['requestBody']);
    if (isObj(body) && isObj(body['content'])) {
      for (const [media, m] of Object.entries(body['content'])) {
        if (!isObj(m)) continue;
        out.push(`Request body (${media}${body['required'] === true ? '' : ', optional'}): ${typeOf(doc, m['schema'])}`, '');
        const ex = exampleOf(m);
        if (ex !== undefined) out.push(block(ex, media === 'application/json' ? 'json' : ''), '');
      }
    }
    const responses = o.op['responses'];
    if (isObj(responses)) {
      out.push('| status | meaning |', '|---|---|');
      for (const [status, r0] of Object.entries(responses)) {
        const r = deref(doc, r0);
        if (!isObj(r)) continue;
        const hs = isObj(r['headers']) ? Object.keys(r['headers']) : [];
        out.push(`| ${status} | ${cell(r['description'])}${hs.length > 0 ? ` Headers: ${hs.map((h) => `\`${h}\``).join(', ')}.` : ''} |`);
      }
      out.push('');
      const okResp = deref(doc, responses['200']);
      if (isObj(okResp) && isObj(okResp['content'])) {
        for (const [media, m] of Object.entries(okResp['content'])) {
          if (!isObj(m)) continue;
          const ex = exampleOf(m);
          if (ex !== undefined) out.push(`Example answer (${media}):`, '', block(ex, media === 'application/json' ? 'json' : ''), '');
        }
      }
    }
  }
  out.push('## Schemas', '');
  for (const [name, s] of Object.entries(components['schemas'] as Obj)) {
    out.push(`### ${name}`, '');
    if (isObj(s) && typeof s['description'] === 'string') out.push(s['description'], '');
    if (isObj(s) && isObj(s['properties'])) {
      const required = new Set((s['required'] as readonly Json[] | undefined) ?? []);
      out.push('| field | type | required | description |', '|---|---|---|---|');
      for (const [f, fs] of Object.entries(s['properties'])) {
        out.push(`| \`${f}\` | ${cell(typeOf(doc, fs))} | ${required.has(f) ? 'yes' : 'no'} | ${cell(isObj(fs) ? fs['description'] : '')} |`);
      }
      out.push('');
    } else {
      out.push(`One of: ${typeOf(doc, s)}`, '');
      if (isObj(s) && Array.isArray(s['oneOf'])) {
        for (const alt of s['oneOf']) if (isObj(alt) && isObj(alt['properties'])) out.push(`- \`{${Object.keys(alt['properties']).join(', ')}}\`${Array.isArray(alt['required']) ? ` (required: ${alt['required'].join(', ')})` : ''}`);
        out.push('');
      }
    }
  }
  out.push('## Errors', '', '| status | codes and meaning |', '|---|---|');
  for (const [, r] of Object.entries(components['responses'] as Obj)) {
    if (!isObj(r) || !isObj(r['content'])) continue;
    const ex = (r['content']['application/json'] as Obj | undefined)?.['example'];
    const code = isObj(ex) ? String(ex['code']) : '';
    const status = statusOfCode(code);
    out.push(`| ${status} | ${cell(r['description'])} |`);
  }
  out.push('');
  return out.join('\n');
}

function statusOfCode(code: string): string {
  return code in API_ERRORS ? String(API_ERRORS[code as ApiErrorCode].status) : '';
}
