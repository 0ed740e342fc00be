// Draws the benchmark plot as SVG (throughput vs connections; latency CDF at 64 connections)
// and rasterises it to PNG with Debian's headless Chromium, so no plotting library is needed.
import { execFile } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchResult } from '../daemon/src/cli/bench/index.js';

const execFileAsync = promisify(execFile);
const CHROMIUM_TIMEOUT_MS = 60_000;

export interface PlotRow {
  readonly case: string;
  readonly op: string;
  readonly connections: number;
  readonly raftkv: BenchResult;
  readonly etcd: BenchResult;
}

const COLORS = { raftkv: '#2f6fdf', etcd: '#e0662b' } as const;
const W = 560;
const H = 380;
const PAD = { left: 70, right: 20, top: 40, bottom: 50 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

function axes(title: string, xLabel: string, yLabel: string, xTicks: [number, string][], yMax: number, yTicksN: number, x: (v: number) => number, y: (v: number) => number): string {
  const parts: string[] = [];
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#333"/>`);
  for (const [v, label] of xTicks) {
    parts.push(`<text x="${x(v)}" y="${H - PAD.bottom + 18}" text-anchor="middle" font-size="12">${esc(label)}</text>`);
  }
  for (let i = 0; i <= yTicksN; i++) {
    const v = (yMax * i) / yTicksN;
    parts.push(`<line x1="${PAD.left}" y1="${y(v)}" x2="${W - PAD.right}" y2="${y(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="12">${v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(v < 10 ? 1 : 0)}</text>`);
  }
  parts.push(`<text x="${W / 2}" y="${H - 12}" text-anchor="middle" font-size="13">${esc(xLabel)}</text>`);
  parts.push(`<text x="16" y="${H / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 16 ${H / 2})">${esc(yLabel)}</text>`);
  return parts.join('');
}

function legend(): string {
  return (['raftkv', 'etcd'] as const)
    .map((s, i) => `<rect x="${W - 130}" y="${PAD.top + i * 20}" width="14" height="14" fill="${COLORS[s]}"/><text x="${W - 110}" y="${PAD.top + 12 + i * 20}" font-size="13">${s}</text>`)
    .join('');
}

function throughputChart(rows: readonly PlotRow[]): string {
  const puts = rows.filter((r) => r.op === 'put').sort((a, b) => a.connections - b.connections);
  const xs = puts.map((r) => Math.log2(r.connections));
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(1, ...xs);
  const yMax = Math.max(1, ...puts.flatMap((r) => [r.raftkv.opsPerSec, r.etcd.opsPerSec])) * 1.1;
  const x = (v: number): number => PAD.left + ((v - xMin) / (xMax - xMin)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  let svg = axes('PUT throughput vs connections', 'connections (log scale)', 'acknowledged PUTs/s', puts.map((r) => [Math.log2(r.connections), String(r.connections)]), yMax, 5, x, y);
  for (const s of ['raftkv', 'etcd'] as const) {
    const pts = puts.map((r) => `${x(Math.log2(r.connections))},${y(r[s].opsPerSec)}`);
    svg += `<polyline fill="none" stroke="${COLORS[s]}" stroke-width="2.5" points="${pts.join(' ')}"/>`;
    svg += puts.map((r) => `<circle cx="${x(Math.log2(r.connections))}" cy="${y(r[s].opsPerSec)}" r="4" fill="${COLORS[s]}"/>`).join('');
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${svg}${legend()}</svg>`;
}

function cdfChart(rows: readonly PlotRow[]): string {
  const row = rows.find((r) => r.op === 'put' && r.connections === 64) ?? rows[0];
  if (!row) return '';
  const all = [...row.raftkv.cdf, ...row.etcd.cdf].map((p) => p.ms);
  const xMax = Math.max(1, ...all) * 1.05;
  const x = (v: number): number => PAD.left + (v / xMax) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / 100) * (H - PAD.top - PAD.bottom);
  const ticks: [number, string][] = [0, 0.25, 0.5, 0.75, 1].map((f) => [f * xMax, `${(f * xMax).toFixed(1)}`]);
  let svg = axes(`Latency CDF, ${row.case}`, 'latency (ms)', 'percentile', ticks, 100, 4, x, y);
  for (const s of ['raftkv', 'etcd'] as const) {
    const pts = row[s].cdf.map((p) => `${x(p.ms)},${y(p.percentile)}`);
    svg += `<polyline fill="none" stroke="${COLORS[s]}" stroke-width="2.5" points="${pts.join(' ')}"/>`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${svg}${legend()}</svg>`;
}

/** Writes `pngPath` with both charts side by side; throws when Chromium is missing or fails. */
export async function renderPlot(rows: readonly PlotRow[], pngPath: string, workDir: string): Promise<void> {
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!chromium) throw new Error('chromium not installed (make deps installs it)');
  const html = `<!doctype html><html><body style="margin:0;background:#fff;font-family:sans-serif">${throughputChart(rows)}${cdfChart(rows)}</body></html>`;
  const htmlPath = join(workDir, 'plot.html');
  writeFileSync(htmlPath, html);
  await execFileAsync(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${join(workDir, 'chromium-profile')}`, '--hide-scrollbars',
    `--window-size=${W * 2},${H}`, `--screenshot=${pngPath}`, `file://${htmlPath}`,
  ], { timeout: CHROMIUM_TIMEOUT_MS });
  if (!existsSync(pngPath)) throw new Error('chromium wrote no screenshot');
}
