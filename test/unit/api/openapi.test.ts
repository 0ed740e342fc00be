// The OpenAPI document against the real server: it describes exactly the routes the server
// registers, a standard validator accepts it, every member serves it, and the generated
// reference (docs/openapi.json, docs/api.md) is current.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import { documentedRoutes, openApiDocument, specRouteGaps } from '../../../daemon/src/api/openapi.js';
import { renderApiMarkdown } from '../../../daemon/src/api/openapi-markdown.js';
import { startApi } from './harness.js';
import { TokenTable } from '../../../daemon/src/security/tokens.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

test('the document describes exactly the routes the server registers', async () => {
  const t = await startApi({ enableFaultInjection: true });
  try {
    const served = t.api.routes();
    assert.ok(served.length >= 25, `only ${served.length} routes found`);
    assert.deepEqual(specRouteGaps(served, documentedRoutes()), { undocumented: [], unserved: [] });
  } finally {
    await t.close();
  }
});

test('the route check catches a route missing from the document and a documented path nothing serves (known-bad case)', async () => {
  const t = await startApi();
  try {
    const served = [...t.api.routes(), { method: 'GET', path: '/v1/debug/pprof' }];
    const doc = openApiDocument() as { paths: Record<string, unknown> };
    const paths: Record<string, unknown> = { ...doc.paths, '/v1/leases/{id}': { get: { responses: { 200: { description: 'x' } } } } };
    delete paths['/v1/txn'];
    assert.deepEqual(specRouteGaps(served, documentedRoutes({ ...doc, paths } as never)), {
      undocumented: ['GET /v1/debug/pprof', 'POST /v1/txn'],
      unserved: ['GET /v1/leases/:id'],
    });
  } finally {
    await t.close();
  }
});

test('swagger-parser validates the document as OpenAPI 3.1', async () => {
  const doc = openApiDocument();
  // validate() dereferences in place: give it a copy.
  const api = await SwaggerParser.validate(structuredClone(doc) as never);
  assert.equal((api as { openapi?: string }).openapi, '3.1.0');
});

test('the validator rejects a broken document (known-bad case)', async () => {
  const doc = structuredClone(openApiDocument()) as { paths: Record<string, Record<string, unknown>> };
  (doc.paths['/v1/txn'] as Record<string, unknown>)['post'] = { responses: { 200: { description: 'x', content: { 'application/json': { schema: { $ref: '#/components/schemas/Nope' } } } } } };
  await assert.rejects(SwaggerParser.validate(doc as never));
});

test('every member serves the document at GET /v1/openapi.json', async () => {
  const t = await startApi();
  try {
    const r = await fetch(`${t.url}/v1/openapi.json`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.deepEqual(await r.json(), JSON.parse(JSON.stringify(openApiDocument())));
  } finally {
    await t.close();
  }
});

test('docs/openapi.json and docs/api.md are generated from the current document (node scripts/gen-api-docs.mjs)', () => {
  const doc = openApiDocument();
  assert.equal(readFileSync(join(repoRoot, 'docs/openapi.json'), 'utf8'), `${JSON.stringify(doc, null, 2)}\n`, 'docs/openapi.json is stale: run node scripts/gen-api-docs.mjs');
  assert.equal(readFileSync(join(repoRoot, 'docs/api.md'), 'utf8'), renderApiMarkdown(doc), 'docs/api.md is stale: run node scripts/gen-api-docs.mjs');
});

test('a member with --auth-token-file serves a document stating which operations need a bearer token, and enforces exactly that', async () => {
  const token = 'writer-token-0123456789';
  const access = { tokens: { current: TokenTable.parse(`${token} write w\n`) }, openPaths: new Set(['/healthz']) };
  const t = await startApi({ enableFaultInjection: true, access });
  try {
    const r = await fetch(`${t.url}/v1/openapi.json`);
    assert.equal(r.status, 200, 'the document itself is open');
    const doc = (await r.json()) as { security: unknown; paths: Record<string, Record<string, { security?: unknown[] }>> };
    assert.deepEqual(doc.security, [{ bearer: [] }]);
    await SwaggerParser.validate(structuredClone(doc) as never);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (method === 'parameters') continue;
        assert.ok(Array.isArray(op.security), `${method} ${path} states its security`);
        const open = op.security.length === 0;
        // Without credentials: an open operation is never 401; a protected one always is.
        const res = await fetch(`${t.url}${path.replace('{key}', 'k').replace('{name}', 'n2')}`, { method: method.toUpperCase(), redirect: 'manual' });
        await res.arrayBuffer();
        assert.equal(res.status === 401, !open, `${method} ${path}: ${res.status} while the document says ${open ? 'open' : 'bearer'}`);
      }
    }
    assert.deepEqual(doc.paths['/metrics']?.['get']?.security, [{ bearer: [] }], '/metrics is not in --auth-open-paths here');
    assert.deepEqual(doc.paths['/healthz']?.['get']?.security, []);
  } finally {
    await t.close();
  }
});
