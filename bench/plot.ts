// Draws the benchmark plot as SVG (per case, both systems: throughput, p50 latency, and CPU per
// operation split into server and client) and rasterises it to PNG with Debian's headless
// Chromium, so no plotting library is needed.
import { execFile } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Measurement } from './native-clients.js';

const execFileAsync = promisify(execFile);
const CHROMIUM_TIMEOUT_MS = 60_000;

export interface PlotRow {
  readonly case: string;
  readonly raftkv: Measurement;
  readonly etcd: Measurement;
}

const SYSTEMS = ['etcd', 'raftkv'] as const;
const COLORS = { raftkv: '#2f6fdf', etcd: '#e0662b' } as const;
const LIGHT = { raftkv: '#9dbcf2', etcd: '#f2b899' } as const;
const W = 620;
const LABEL_W = 250;
const BAR_H = 11;
const ROW_H = 2 * BAR_H + 12;
const TOP = 48;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : v >= 100 ? v.toFixed(0) : v.toFixed(2);
}

/** One horizontal grouped-bar chart: a row per case, a bar per system (stacked when `second` is given). */
function barChart(title: string, subtitle: string, rows: readonly PlotRow[], first: (m: Measurement) => number, second?: (m: Measurement) => number): string {
  const h = TOP + rows.length * ROW_H + 20;
  const total = (m: Measurement): number => first(m) + (second ? second(m) : 0);
  const max = Math.max(1e-9, ...rows.flatMap((r) => SYSTEMS.map((s) => total(r[s])).filter(Number.isFinite))) * 1.18;
  const scale = (v: number): number => (Number.isFinite(v) ? (v / max) * (W - LABEL_W - 20) : 0);
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="${W / 2}" y="37" text-anchor="middle" font-size="11" fill="#555">${esc(subtitle)}</text>`);
  rows.forEach((r, i) => {
    const y0 = TOP + i * ROW_H;
    parts.push(`<text x="${LABEL_W - 8}" y="${y0 + BAR_H + 4}" text-anchor="end" font-size="11">${esc(r.case.length > 40 ? `${r.case.slice(0, 39)}…` : r.case)}</text>`);
    SYSTEMS.forEach((s, j) => {
      const y = y0 + j * BAR_H;
      const a = scale(first(r[s]));
      parts.push(`<rect x="${LABEL_W}" y="${y}" width="${a}" height="${BAR_H - 1}" fill="${COLORS[s]}"/>`);
      let end = a;
      if (second) {
        const b = scale(second(r[s]));
        parts.push(`<rect x="${LABEL_W + a}" y="${y}" width="${b}" height="${BAR_H - 1}" fill="${LIGHT[s]}"/>`);
        end += b;
      }
      const label = second ? `${fmtValue(first(r[s]))} + ${fmtValue(second(r[s]))}` : fmtValue(first(r[s]));
      parts.push(`<text x="${LABEL_W + end + 4}" y="${y + BAR_H - 2}" font-size="10">${esc(label)}</text>`);
    });
  });
  parts.push(`<line x1="${LABEL_W}" y1="${TOP - 4}" x2="${LABEL_W}" y2="${h - 16}" stroke="#333"/>`);
  const legend = SYSTEMS.map((s, i) => `<rect x="${W - 120 + i * 60}" y="${h - 14}" width="12" height="10" fill="${COLORS[s]}"/><text x="${W - 104 + i * 60}" y="${h - 5}" font-size="11">${s}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" style="display:inline-block;vertical-align:top">${parts.join('')}${legend}</svg>`;
}

/** Writes `pngPath` with the charts; throws when Chromium is missing or fails. */
export async function renderPlot(rows: readonly PlotRow[], pngPath: string, workDir: string, heading: string): Promise<void> {
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!chromium) throw new Error('chromium not installed (make deps installs it)');
  const charts = [
    barChart('Throughput', 'acknowledged operations per second (higher is better)', rows, (m) => m.opsPerSec),
    barChart('Median latency', 'p50 in ms (lower is better)', rows, (m) => m.p50Ms),
    barChart('CPU per operation', 'µs per op: server (3 members, dark) + client (light); lower is better', rows, (m) => m.serverCpuUsPerOp, (m) => m.clientCpuUsPerOp),
    barChart('Tail latency', 'p99 in ms (lower is better)', rows, (m) => m.p99Ms),
  ];
  const height = 2 * (TOP + rows.length * ROW_H + 20) + 40;
  const html = `<!doctype html><html><body style="margin:0;background:#fff;font-family:sans-serif"><div style="font-size:14px;padding:8px 12px">${esc(heading)}</div>${charts.join('')}</body></html>`;
  const htmlPath = join(workDir, 'plot.html');
  writeFileSync(htmlPath, html);
  await execFileAsync(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${join(workDir, 'chromium-profile')}`, '--hide-scrollbars',
    `--window-size=${W * 2},${height}`, `--screenshot=${pngPath}`, `file://${htmlPath}`,
  ], { timeout: CHROMIUM_TIMEOUT_MS });
  if (!existsSync(pngPath)) throw new Error('chromium wrote no screenshot');
}
