/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): self time by package or area, the top functions by
 * self time, and Pier's own functions by inclusive time, optionally inside a time window (the load).
 *
 *   npx tsx bench/lib/profile.ts bench/results/profiles/<file>.cpuprofile [--last <sec>] [--skip-end <sec>]
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ROOT } from './proc.js';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber?: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Which samples count: the last `lastSec` seconds before `skipEndSec` from the end (the load, not start-up or shut-down). */
export interface ProfileWindow {
  lastSec?: number;
  skipEndSec?: number;
}

/** A profile, with the frames of compiled bundles named by the source file and line they came from (inSources). */
export const readProfile = (file: string) => inSources(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);

/**
 * The bench runs Pier and the yardstick as bundles (compile.ts): V8 names their frames by the
 * bundle's file and line. Each such frame is renamed, in place, after the source file, line and
 * column the bundle's inline source map gives for it, so that areas and lines read as under tsx
 * (`pier src/core`, `src/core/payments/charge.ts:120`). Frames of files without an inline map
 * (packages, Node's own, tsx's output) are left as they are.
 */
export function inSources(p: CpuProfile): CpuProfile {
  const maps = new Map<string, SourceMap | null>();
  const mapOf = (url: string): SourceMap | null => {
    let map = maps.get(url);
    if (map === undefined) {
      map = inlineSourceMap(url);
      maps.set(url, map);
    }
    return map;
  };
  for (const { callFrame: f } of p.nodes) {
    if (!f.url.startsWith(`file://${ROOT}/node_modules/.cache/`)) continue;
    const map = mapOf(f.url);
    const entry = map?.findEntry(f.lineNumber, f.columnNumber ?? 0);
    if (!entry || !('originalSource' in entry)) continue;
    f.url = new URL(entry.originalSource, f.url).href;
    f.lineNumber = entry.originalLine;
    f.columnNumber = entry.originalColumn;
  }
  return p;
}

function inlineSourceMap(url: string): SourceMap | null {
  try {
    const text = readFileSync(fileURLToPath(url), 'utf8');
    const at = text.lastIndexOf('//# sourceMappingURL=data:application/json;base64,');
    if (at < 0) return null;
    const base64 = text.slice(text.indexOf(',', at) + 1).trim();
    return new SourceMap(JSON.parse(Buffer.from(base64, 'base64').toString('utf8')));
  } catch {
    // a bundle removed since (compile.ts removes the yardstick's at the end of the run)
    return null;
  }
}

/**
 * The samples inside the window, each with the time it stands for: the time until the next sample
 * belongs to this one.
 */
export function* samplesInWindow(p: CpuProfile, w: ProfileWindow = {}): Generator<{ nodeId: number; us: number }> {
  const to = p.endTime - (w.skipEndSec ?? 0) * 1e6;
  const from = w.lastSec ? to - w.lastSec * 1e6 : p.startTime;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i];
    if (t < from || t > to) continue;
    yield { nodeId: p.samples[i], us: p.timeDeltas[i + 1] ?? 0 };
  }
}

export interface ProfileSummary {
  windowMs: number;
  /** share of the window the main thread was busy (not idle) */
  busyShare: number;
  byArea: Array<{ area: string; ms: number; share: number }>;
  topSelf: Array<{ fn: string; where: string; area: string; ms: number; share: number }>;
  pierInclusive: Array<{ fn: string; where: string; ms: number; share: number }>;
}

export function areaOf(f: CallFrame): string {
  const url = f.url;
  if (!url) {
    if (f.functionName === '(garbage collector)') return 'GC';
    if (f.functionName === '(idle)') return 'idle';
    if (f.functionName === '(program)') return 'V8/native (program)';
    return f.functionName || 'native';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1];
  if (url.startsWith('node:')) return 'node internals';
  const root = `file://${ROOT}/`;
  if (url.startsWith(root)) {
    const rel = url.slice(root.length);
    return rel.startsWith('src/') ? `pier ${rel.split('/').slice(0, 2).join('/')}` : rel;
  }
  return url;
}

export function whereOf(f: CallFrame): string {
  const url = f.url.replace(`file://${ROOT}/`, '').replace(/^.*node_modules\//, '');
  return url ? `${url}:${f.lineNumber + 1}` : '';
}

export function summarizeProfile(file: string, opts: ProfileWindow = {}): ProfileSummary {
  const p = readProfile(file);
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }

  const selfByKey = new Map<string, { fn: string; where: string; area: string; us: number }>();
  const areaUs = new Map<string, number>();
  const inclusive = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  for (const { nodeId, us: dt } of samplesInWindow(p, opts)) {
    const node = byId.get(nodeId)!;
    const f = node.callFrame;
    total += dt;
    const area = areaOf(f);
    if (area === 'idle') idle += dt;
    areaUs.set(area, (areaUs.get(area) ?? 0) + dt);
    const key = `${f.functionName}@${f.url}:${f.lineNumber}`;
    const s = selfByKey.get(key) ?? { fn: f.functionName || '(anonymous)', where: whereOf(f), area, us: 0 };
    s.us += dt;
    selfByKey.set(key, s);
    // inclusive time of Pier's own functions: each distinct frame on the stack once
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const cf = byId.get(id)!.callFrame;
      if (!cf.url.startsWith(`file://${ROOT}/src/`)) continue;
      const k = `${cf.functionName}@${cf.url}:${cf.lineNumber}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const e = inclusive.get(k) ?? { fn: cf.functionName || '(anonymous)', where: whereOf(cf), us: 0 };
      e.us += dt;
      inclusive.set(k, e);
    }
  }
  const share = (us: number) => (total > 0 ? us / total : 0);
  return {
    windowMs: total / 1000,
    busyShare: share(total - idle),
    byArea: [...areaUs.entries()].map(([area, us]) => ({ area, ms: us / 1000, share: share(us) })).sort((a, b) => b.ms - a.ms),
    topSelf: [...selfByKey.values()]
      .filter((s) => s.area !== 'idle')
      .sort((a, b) => b.us - a.us)
      .slice(0, 25)
      .map((s) => ({ fn: s.fn, where: s.where, area: s.area, ms: s.us / 1000, share: share(s.us) })),
    pierInclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 25)
      .map((s) => ({ fn: s.fn, where: s.where, ms: s.us / 1000, share: share(s.us) })),
  };
}

const pctStr = (x: number) => `${(x * 100).toFixed(1)}%`;

/** `requests`: how many requests were answered in the window, to show each row's time per request. */
export function profileMarkdown(title: string, s: ProfileSummary, requests?: number): string {
  const per = requests && requests > 0 ? (ms: number) => ` | ${((ms * 1000) / requests).toFixed(1)}` : () => '';
  const perHead = requests && requests > 0 ? ' | µs per request' : '';
  const perRule = requests && requests > 0 ? ' | ---:' : '';
  const lines = [
    `### ${title}`,
    '',
    `Window ${(s.windowMs / 1000).toFixed(1)} s of samples; main thread busy ${pctStr(s.busyShare)} of it.`,
    '',
    `| area (self time) | ms | share | share of busy time${perHead} |`,
    `| --- | ---: | ---: | ---:${perRule} |`,
    ...s.byArea.slice(0, 18).map((a) => `| ${a.area} | ${a.ms.toFixed(0)} | ${pctStr(a.share)} | ${a.area === 'idle' ? '' : pctStr(a.share / s.busyShare)}${per(a.ms)} |`),
    '',
    `| function (self time) | where | ms | share${perHead} |`,
    `| --- | --- | ---: | ---:${perRule} |`,
    ...s.topSelf.map((f) => `| ${f.fn} | ${f.where} | ${f.ms.toFixed(0)} | ${pctStr(f.share)}${per(f.ms)} |`),
    '',
    `| Pier function (inclusive time) | where | ms | share${perHead} |`,
    `| --- | --- | ---: | ---:${perRule} |`,
    ...s.pierInclusive.map((f) => `| ${f.fn} | ${f.where} | ${f.ms.toFixed(0)} | ${pctStr(f.share)}${per(f.ms)} |`),
    '',
  ];
  return lines.join('\n');
}

/** The command line of this file's CLI and flamegraph.ts's: the profile named first and the numeric flags; the usage and exit 2 without a file. */
export function profileCommandLine(usage: string): { file: string; numberAfter: (flag: string) => number | undefined } {
  const file = process.argv[2];
  if (!file) {
    console.error(`usage: ${usage}`);
    process.exit(2);
  }
  const numberAfter = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  return { file, numberAfter };
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  const { file, numberAfter } = profileCommandLine('tsx bench/lib/profile.ts <file.cpuprofile> [--last <sec>] [--skip-end <sec>]');
  console.log(profileMarkdown(file, summarizeProfile(file, { lastSec: numberAfter('--last'), skipEndSec: numberAfter('--skip-end') })));
}
