// raftctl's output formats (-w simple|json|table): the helpers every command prints through, so
// a table looks the same everywhere and JSON is always one document (one per line for watch).
import type { Writable } from 'node:stream';

/** Pads columns to their widest cell (the last column is not padded). */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths: number[] = [];
  for (const row of all) row.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return `${all.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n')}\n`;
}

/** One JSON document on a line. */
export function writeJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value)}\n`);
}

/** True when the bytes are UTF-8 text a terminal can show (no control characters but tab and newlines). */
export function isText(b: Buffer): boolean {
  const s = b.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return Buffer.from(s, 'utf8').equals(b) && !/[\u0000-\u0008\u000e-\u001f]/.test(s);
}

/** A value printed to a terminal: UTF-8 text as is, anything else as base64 (marked). */
export function printable(b: Buffer): string {
  return isText(b) ? b.toString('utf8') : `base64:${b.toString('base64')}`;
}

/** A value in JSON output: `value` when it is text, `valueBase64` otherwise (the API's own convention for txn values). */
export function jsonValue(b: Buffer): { value: string } | { valueBase64: string } {
  return isText(b) ? { value: b.toString('utf8') } : { valueBase64: b.toString('base64') };
}
