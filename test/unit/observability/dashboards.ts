// Reading the Grafana dashboards as data: every panel query, the template-variable
// substitution Grafana would do, and the metric names a PromQL expression references.
// Shared by the unit check (names exist in metrics.ts) and the Prometheus proof (queries return data).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The dashboard files, relative to the repository root. */
export const DASHBOARD_FILES = ['k8s/grafana/raftkv-overview.json', 'k8s/grafana/raftkv-member.json'] as const;

/** One query of one panel. */
export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

interface RawTarget {
  readonly refId?: unknown;
  readonly expr?: unknown;
}
interface RawPanel {
  readonly type?: unknown;
  readonly title?: unknown;
  readonly targets?: readonly RawTarget[];
  readonly panels?: readonly RawPanel[];
}

/** Parses one dashboard file; throws on malformed JSON. */
export function readDashboard(repoRoot: string, file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(repoRoot, file), 'utf8')) as Record<string, unknown>;
}

/** Every query of every panel (rows' nested panels included) in the dashboard files. */
export function panelQueries(repoRoot: string): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const file of DASHBOARD_FILES) {
    const d = readDashboard(repoRoot, file);
    const walk = (panels: readonly RawPanel[], depth: number): void => {
      if (depth > 2) return;
      for (const p of panels) {
        if (p.panels) walk(p.panels, depth + 1);
        for (const t of p.targets ?? []) {
          if (typeof t.expr !== 'string') continue;
          out.push({ dashboard: file, panel: String(p.title), refId: String(t.refId), expr: t.expr });
        }
      }
    };
    walk((d['panels'] ?? []) as readonly RawPanel[], 0);
  }
  return out;
}

/** Values for the dashboard variables and Grafana's built-in interval variables. */
export interface DashboardVars {
  readonly cluster: string;
  /** A regex (the dashboards match `member=~"$member"`); `.*` is Grafana's "All". */
  readonly member: string;
  readonly rateInterval: string;
  readonly range: string;
}

/** The expression as Grafana would send it to Prometheus with `vars`. */
export function substitute(expr: string, vars: DashboardVars): string {
  return expr
    .replaceAll('$__rate_interval', vars.rateInterval)
    .replaceAll('$__range', vars.range)
    .replaceAll('$__interval', vars.rateInterval)
    .replaceAll('${cluster}', vars.cluster)
    .replaceAll('$cluster', vars.cluster)
    .replaceAll('${member}', vars.member)
    .replaceAll('$member', vars.member);
}

/** PromQL words that are not metric names when not followed by `(`. */
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'or', 'and', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names `expr` references: identifiers outside strings, label matchers, grouping
 * clauses and range selectors that are not function calls, keywords or numbers.
 */
export function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  const re = /([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g;
  for (let m = re.exec(s), guard = 0; m !== null && guard < 10_000; m = re.exec(s), guard++) {
    const word = m[1] as string;
    if (m[2] !== undefined) continue; // a function call
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** Names a Prometheus scrape exposes for a metric of `type` called `name`. */
export function exposedNames(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}
