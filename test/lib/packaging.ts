// Helpers for the packaging tests (test/operator/packaging.test.ts): finding helm, running
// commands with a time bound, comparing rendered trees, and checking the Dockerfile's paths
// against the compiled output. Pure checkers return lists of problems so tests can prove they
// catch known-bad inputs.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { repoRoot } from './kube-control-plane.js';

/** Outcome of one command. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command (no shell), killing it by pid after `timeoutMs`. Never rejects on a non-zero exit. */
export function run(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? repoRoot(), env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.timeoutMs ?? 120_000} ms)`;
      if (child.pid !== undefined) child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(options.input ?? '');
  });
}

/** helm from <repo>/.cache/bin (where the Makefile and scripts/ensure-helm.sh put it), else PATH; throws saying how to get it. */
export function findHelm(): string {
  const candidates = [join(repoRoot(), '.cache', 'bin', 'helm'), ...(process.env['PATH'] ?? '').split(':').filter((p) => p !== '').map((p) => join(p, 'helm'))];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new Error(`helm not found in ${candidates[0] ?? '.cache/bin'} or PATH; run: bash scripts/ensure-helm.sh`);
  return found;
}

/** Every file under `dir`, as sorted paths relative to it (forward slashes). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).split('\\').join('/'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * Differences between the generated tree `fresh` and the committed tree `committed`, over the
 * folders `scopes` (relative paths): files missing on either side, and files whose bytes differ
 * (with the first differing line).
 */
export function compareTrees(fresh: string, committed: string, scopes: readonly string[]): string[] {
  const problems: string[] = [];
  for (const scope of scopes) {
    const a = new Set(listFiles(join(fresh, scope)));
    const b = new Set(listFiles(join(committed, scope)));
    for (const f of a) if (!b.has(f)) problems.push(`${scope}/${f}: generated but not committed`);
    for (const f of b) if (!a.has(f)) problems.push(`${scope}/${f}: committed but no longer generated`);
    for (const f of a) {
      if (!b.has(f)) continue;
      const x = readFileSync(join(fresh, scope, f));
      const y = readFileSync(join(committed, scope, f));
      if (x.equals(y)) continue;
      const xl = x.toString('utf8').split('\n');
      const yl = y.toString('utf8').split('\n');
      let i = 0;
      while (i < xl.length && xl[i] === yl[i]) i++;
      problems.push(`${scope}/${f}: differs at line ${i + 1}: generated ${JSON.stringify(xl[i] ?? '<eof>')}, committed ${JSON.stringify(yl[i] ?? '<eof>')}`);
    }
  }
  return problems;
}

/** What the final stage of a Dockerfile puts where, as far as entry points are concerned. */
export interface ImageLayout {
  /** Exec-form ENTRYPOINT of the final stage (empty when absent or shell form). */
  readonly entrypoint: string[];
  readonly cmd: string[];
  /** Final-stage WORKDIR. */
  readonly workdir: string;
  /** `COPY --from=<build stage> <src> <dst>` of the final stage: image path → build-stage path. */
  readonly fromBuild: ReadonlyMap<string, string>;
  /** Plain `COPY <src> <dst>` of the final stage: image path → context path. */
  readonly fromContext: ReadonlyMap<string, string>;
  /** `ln -s <target> <link>`: link → target. */
  readonly symlinks: ReadonlyMap<string, string>;
  /** The build stage's WORKDIR (where `tsc` writes dist/). */
  readonly buildWorkdir: string;
}

/** Parses the parts of a Dockerfile that decide whether the entry points can start. */
export function parseDockerfile(text: string): ImageLayout {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const stages: { name: string; lines: string[] }[] = [];
  for (const l of lines) {
    const m = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(l);
    if (m) stages.push({ name: m[1] ?? '', lines: [] });
    else stages[stages.length - 1]?.lines.push(l);
  }
  const final = stages[stages.length - 1] ?? { name: '', lines: [] };
  const workdirOf = (ls: readonly string[]): string => {
    let w = '/';
    for (const l of ls) {
      const m = /^WORKDIR\s+(\S+)/i.exec(l);
      if (m?.[1] !== undefined) w = posix.resolve(w, m[1]);
    }
    return w;
  };
  const workdir = workdirOf(final.lines);
  const execForm = (kw: string): string[] => {
    const l = [...final.lines].reverse().find((x) => x.toUpperCase().startsWith(`${kw} `));
    if (l === undefined) return [];
    try {
      const v: unknown = JSON.parse(l.slice(kw.length).trim());
      return Array.isArray(v) ? v.map(String) : [];
    } catch {
      return [];
    }
  };
  const fromBuild = new Map<string, string>();
  const fromContext = new Map<string, string>();
  let buildStage = '';
  for (const l of final.lines) {
    const m = /^COPY\s+(?:--from=(\S+)\s+)?(?:--chown=\S+\s+)?(\S+)\s+(\S+)$/i.exec(l);
    if (!m || m[2] === undefined || m[3] === undefined) continue;
    const dst = posix.resolve(workdir, m[3]);
    if (m[1] === undefined) fromContext.set(dst, posix.normalize(m[2]).replace(/\/$/, ''));
    else if (m[2].includes('/dist')) {
      fromBuild.set(dst, m[2]);
      buildStage = m[1];
    }
  }
  const symlinks = new Map<string, string>();
  for (const l of final.lines) {
    for (const m of l.matchAll(/ln\s+-s[f]*\s+(\S+)\s+(\S+)/g)) if (m[1] !== undefined && m[2] !== undefined) symlinks.set(m[2], m[1]);
  }
  const build = stages.find((s) => s.name === buildStage);
  return { entrypoint: execForm('ENTRYPOINT'), cmd: execForm('CMD'), workdir, fromBuild, fromContext, symlinks, buildWorkdir: build === undefined ? '' : workdirOf(build.lines) };
}

/** The module a bin/ launcher imports, e.g. `../dist/daemon/src/main.js`. */
export function launcherTarget(launcherText: string): string | undefined {
  return /import\(\s*['"]([^'"]+)['"]\s*\)/.exec(launcherText)?.[1];
}

/**
 * Checks that each named command resolves, inside the image described by `layout`, to a bin/
 * launcher copied from the context whose import lands in a dist/ subtree copied from the build
 * stage and present in `buildOut` (the `tsc` output dir, i.e. what `make build` produces).
 * `readContext(path)` reads a file of the build context (undefined when missing). Returns problems.
 */
export function checkEntryPoints(layout: ImageLayout, commands: readonly string[], readContext: (path: string) => string | undefined, buildOut: string): string[] {
  const problems: string[] = [];
  for (const command of commands) {
    const link = command.startsWith('/') ? command : `/usr/local/bin/${command}`;
    const imagePath = layout.symlinks.get(link) ?? link;
    // Which context file lands at imagePath?
    let contextFile: string | undefined;
    for (const [dst, src] of layout.fromContext) {
      if (imagePath === dst) contextFile = src;
      else if (imagePath.startsWith(`${dst}/`)) contextFile = posix.join(src, imagePath.slice(dst.length + 1));
    }
    if (contextFile === undefined) { problems.push(`${command}: ${imagePath} is not copied into the image`); continue; }
    const text = readContext(contextFile);
    if (text === undefined) { problems.push(`${command}: ${contextFile} (→ ${imagePath}) does not exist in the repo`); continue; }
    if (!text.startsWith('#!/usr/bin/env node')) problems.push(`${command}: ${contextFile} has no node shebang`);
    const target = launcherTarget(text);
    if (target === undefined) { problems.push(`${command}: ${contextFile} imports no module`); continue; }
    const targetInImage = posix.resolve(posix.dirname(imagePath), target);
    let buildPath: string | undefined;
    for (const [dst, src] of layout.fromBuild) {
      if (targetInImage.startsWith(`${dst}/`)) buildPath = posix.join(posix.resolve(layout.buildWorkdir, src), targetInImage.slice(dst.length + 1));
    }
    if (buildPath === undefined) { problems.push(`${command}: ${targetInImage} is not in any dist/ folder copied from the build stage`); continue; }
    const distRel = posix.relative(posix.join(layout.buildWorkdir, 'dist'), buildPath);
    if (distRel.startsWith('..')) { problems.push(`${command}: ${buildPath} is outside the build stage's dist/`); continue; }
    if (!existsSync(join(buildOut, distRel))) problems.push(`${command}: ${target} → dist/${distRel}, which the build does not produce (not in ${buildOut})`);
  }
  return problems;
}

/** Bare package names imported by the compiled JS under `dir` (node: builtins and relative imports excluded). */
export function importedPackages(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const builtin = new Set(['fs', 'path', 'os', 'http', 'https', 'net', 'crypto', 'url', 'util', 'events', 'stream', 'child_process', 'zlib', 'assert', 'timers', 'buffer', 'dns', 'worker_threads', 'perf_hooks', 'readline', 'process', 'v8', 'tty']);
  for (const f of listFiles(dir)) {
    if (!f.endsWith('.js')) continue;
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) continue;
      const parts = spec.split('/');
      const name = spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? spec);
      if (builtin.has(name)) continue;
      if (!found.has(name)) found.set(name, f);
    }
  }
  return found;
}

/**
 * Minimal stand-ins for the prometheus-operator CRDs (monitoring.coreos.com/v1 ServiceMonitor,
 * PodMonitor, PrometheusRule): served, namespaced, `spec` kept as-is. They let the API server
 * accept the chart's monitoring objects in a dry run; they do not validate the spec's fields.
 */
export function prometheusOperatorCrds(): object[] {
  const crd = (kind: string, plural: string): object => ({
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.monitoring.coreos.com` },
    spec: {
      group: 'monitoring.coreos.com', scope: 'Namespaced',
      names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase() },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
      }],
    },
  });
  return [crd('ServiceMonitor', 'servicemonitors'), crd('PodMonitor', 'podmonitors'), crd('PrometheusRule', 'prometheusrules')];
}

/**
 * Whether the build context path `path` is left out by .dockerignore `patterns` (Docker's rules
 * in the subset used here: `*` within a segment, `**` across segments, `!` re-includes, the last
 * matching pattern wins, and a pattern matching a parent folder matches everything below it).
 */
export function dockerIgnored(patterns: readonly string[], path: string): boolean {
  const toRegex = (p: string): RegExp => new RegExp(`^${p.replace(/\/+$/, '').split('/').map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/')}$`);
  const parts = posix.normalize(path).replace(/^\.\/|\/$/g, '').split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const re = toRegex(negate ? line.slice(1) : line);
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

/** Context sources of every `COPY` without `--from` in a Dockerfile (all stages). */
export function contextCopySources(dockerfile: string): string[] {
  const out: string[] = [];
  for (const l of dockerfile.replace(/\\\n/g, ' ').split('\n')) {
    const m = /^\s*COPY\s+(?!--from)(?:--chown=\S+\s+)?(.+)\s+\S+\s*$/i.exec(l);
    if (m?.[1] !== undefined) out.push(...m[1].trim().split(/\s+/));
  }
  return out;
}

/**
 * Problems with how the Dockerfile's RUN steps get their tools: `npx X` may download an
 * unrelated package named X when node_modules is incomplete (only `npx --no-install` is safe),
 * and `npm ci` has exited 0 with nothing installed, so each one must be followed in the same
 * RUN by `npm ls`, which fails on a missing dependency.
 */
export function dockerfileInstallProblems(dockerfile: string): string[] {
  const runs = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => /^RUN\s/i.test(l));
  const problems: string[] = [];
  for (const run of runs) {
    for (const m of run.matchAll(/\bnpx\s+(?!--no-install\b|--no\b)(\S+)/g)) problems.push(`\`npx ${m[1] ?? ''}\` may fetch a package by name: ${run}`);
    const commands = run.split(/&&|;/).map((c) => c.trim());
    commands.forEach((c, i) => {
      if (/^npm ci\b/.test(c) && !commands.slice(i + 1).some((n) => /^npm ls\b/.test(n))) problems.push(`\`${c}\` not followed by \`npm ls\` (npm ci can exit 0 with nothing installed)`);
    });
  }
  return problems;
}
