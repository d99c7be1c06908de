/**
 * A static SVG flame graph of a V8 .cpuprofile (node --cpu-prof), restricted to the same time window
 * as bench/lib/profile.ts's summary: the root at the bottom, one row per stack depth, each frame as
 * wide as its share of the busy (not idle) samples, siblings with the same label merged.
 *
 * Written here on purpose: the npm `flamegraph` package (1.3.0) writes invalid XML for names with
 * `&` and is unmaintained, and Brendan Gregg's flamegraph.pl and inferno are not npm packages.
 *
 *   npx tsx bench/lib/flamegraph.ts <file.cpuprofile> [--last <sec>] [--skip-end <sec>] [--requests <n>] > out.svg
 */
import { basename } from 'node:path';
import { areaOf, profileCommandLine, readProfile, samplesInWindow, whereOf, type CallFrame, type CpuProfile, type ProfileWindow } from './profile.js';

export interface FlameGraphOptions extends ProfileWindow {
  title?: string;
  /** requests answered in the window: the subtitle and each tooltip also say µs per request */
  requests?: number;
  /** frames narrower than this share of the busy time are left out, with their children (keeps the file small) */
  minShare?: number;
}

interface Frame {
  label: string;
  kind: Kind;
  us: number;
  children: Map<string, Frame>;
}

/** a colour family: Pier's src/, one npm package, node internals, V8 natives, GC, (program) */
interface Kind {
  legend: string;
  hue: [number, number];
  sat: number;
  light: [number, number];
}

const WIDTH = 1200;
const PAD = 10;
const ROW = 16;
const TOP = 92;
const CHAR_PX = 6.7; // 11 px monospace
const LEGEND_MAX = 9;

/** FNV-1a and murmur3's finaliser: a stable number per name, for a package's colour and a frame's shade */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  // FNV's low bits alone barely tell short names apart (undici and kysely were 1° of hue apart)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function kindOf(f: CallFrame): Kind {
  const area = areaOf(f);
  if (area === 'GC') return { legend: 'GC', hue: [0, 4], sat: 80, light: [52, 60] };
  if (area === 'V8/native (program)') return { legend: '(program)', hue: [0, 0], sat: 0, light: [88, 88] };
  if (!f.url) return { legend: 'V8 natives', hue: [35, 35], sat: 14, light: [64, 72] };
  if (area === 'node internals') return { legend: 'node internals', hue: [0, 0], sat: 0, light: [66, 76] };
  if (area.startsWith('pier src/')) return { legend: "Pier's src/", hue: [16, 42], sat: 88, light: [56, 64] };
  // each npm package a hue of its own, clear of Pier's oranges and GC's red
  if (f.url.includes('/node_modules/')) {
    const h = hash(area);
    const hue = 95 + (h % 230);
    // saturation and lightness from other bits of the hash: two packages of close hues still differ
    const light = 54 + ((h >>> 20) % 16);
    return { legend: area, hue: [hue, hue], sat: 35 + ((h >>> 12) % 45), light: [light, light + 6] };
  }
  return { legend: area, hue: [50, 56], sat: 75, light: [58, 66] };
}

function colourOf(k: Kind, label: string): string {
  const v = (hash(label) % 1000) / 1000;
  const hue = k.hue[0] + v * (k.hue[1] - k.hue[0]);
  const light = k.light[0] + v * (k.light[1] - k.light[0]);
  return `hsl(${hue.toFixed(0)},${k.sat}%,${light.toFixed(0)}%)`;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
/** text safe inside an XML element or attribute: control characters and lone surrogates are not XML at all */
const esc = (s: string) =>
  s
    .toWellFormed()
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '?')
    .replace(/[&<>"']/g, (c) => ENTITIES[c]);

const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`;
const msStr = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 1 : 0)} ms`;
const px = (x: number) => String(Math.round(x * 10) / 10);

/** the label as much as fits in `width` px, `..` where it was cut; empty when not even 3 characters fit */
function fit(label: string, width: number): string {
  const n = Math.floor((width - 6) / CHAR_PX);
  if (n < 3) return '';
  return label.length <= n ? label : `${label.slice(0, n - 2)}..`;
}

export function flameGraphSvg(profile: string | CpuProfile, opts: FlameGraphOptions = {}): string {
  const p = typeof profile === 'string' ? readProfile(profile) : profile;
  const minShare = opts.minShare ?? 0.001;
  const frameOf = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  let windowUs = 0;
  let samples = 0;
  const selfUs = new Map<number, number>();
  for (const { nodeId, us } of samplesInWindow(p, opts)) {
    samples++;
    windowUs += us;
    if (areaOf(frameOf.get(nodeId)!) === 'idle') continue;
    selfUs.set(nodeId, (selfUs.get(nodeId) ?? 0) + us);
  }

  // one stack per sampled node, root first; V8's (root) itself is not drawn (the bottom row is "all")
  const root: Frame = { label: 'all', kind: { legend: '(root)', hue: [60, 60], sat: 8, light: [86, 86] }, us: 0, children: new Map() };
  const legendUs = new Map<string, { kind: Kind; us: number }>();
  for (const [nodeId, us] of selfUs) {
    const stack: CallFrame[] = [];
    for (let id: number | undefined = nodeId; id !== undefined && parent.has(id); id = parent.get(id)) stack.push(frameOf.get(id)!);
    root.us += us;
    let at = root;
    for (const f of stack.reverse()) {
      const where = whereOf(f);
      const label = `${f.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
      let next = at.children.get(label);
      if (!next) at.children.set(label, (next = { label, kind: kindOf(f), us: 0, children: new Map() }));
      next.us += us;
      at = next;
    }
    const leg = legendUs.get(at.kind.legend) ?? { kind: at.kind, us: 0 };
    leg.us += us;
    legendUs.set(at.kind.legend, leg);
  }

  const busy = root.us;
  const perReq = opts.requests && opts.requests > 0 ? opts.requests : null;
  const inner = WIDTH - 2 * PAD;
  const rows: Array<{ f: Frame; depth: number; x: number; w: number }> = [];
  let maxDepth = 0;
  const place = (f: Frame, depth: number, x: number) => {
    rows.push({ f, depth, x, w: (f.us / busy) * inner });
    maxDepth = Math.max(maxDepth, depth);
    let cx = x;
    for (const c of [...f.children.values()].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0))) {
      if (c.us / busy >= minShare) place(c, depth + 1, cx);
      cx += (c.us / busy) * inner;
    }
  };
  if (busy > 0) place(root, 0, PAD);

  const height = TOP + (maxDepth + 1) * ROW + PAD;
  const title = opts.title ?? (typeof profile === 'string' ? basename(profile) : 'CPU profile');
  const subtitle = [
    `${(windowUs / 1e6).toFixed(1)} s window, ${samples.toLocaleString('en-US')} samples; main thread busy ${pct(windowUs > 0 ? busy / windowUs : 0)} of it (idle left out)` +
      (perReq ? `; ${Math.round(perReq).toLocaleString('en-US')} requests answered: ${(busy / perReq).toFixed(0)} µs busy per request` : ''),
    `x: share of the busy samples, root at the bottom; frames under ${pct(minShare)} of it left out; hover a frame for its time`,
  ];
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans Mono,Menlo,Consolas,monospace" font-size="11">`,
    '<style>.f rect{stroke:#fff;stroke-width:.5}.f:hover rect{stroke:#000}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fbfbf6"/>`,
    `<text x="${PAD}" y="24" font-size="17">${esc(title)}</text>`,
    ...subtitle.map((line, i) => `<text x="${PAD}" y="${43 + i * 15}" font-size="12" fill="#444">${esc(line)}</text>`),
  ];
  // the legend: self time by colour family, largest first
  const legendHead = 'self time by colour:';
  let lx = PAD + (legendHead.length + 1) * CHAR_PX;
  if (busy > 0) out.push(`<text x="${PAD}" y="80" fill="#444">${legendHead}</text>`);
  const legend = [...legendUs.entries()].sort((a, b) => b[1].us - a[1].us);
  for (const [name, { kind, us }] of legend.slice(0, LEGEND_MAX)) {
    const text = `${name} ${pct(us / busy)}`;
    if (lx + 14 + text.length * CHAR_PX > WIDTH - PAD) break;
    out.push(`<rect x="${px(lx)}" y="71" width="10" height="10" fill="${colourOf(kind, name)}"/><text x="${px(lx + 13)}" y="80">${esc(text)}</text>`);
    lx += 14 + text.length * CHAR_PX + 14;
  }
  if (busy === 0) out.push(`<text x="${PAD}" y="${TOP + 12}">no busy samples in the window</text>`);
  for (const { f, depth, x, w } of rows) {
    const y = height - PAD - (depth + 1) * ROW;
    const share = f.us / busy;
    const tip = `${f.label}\n${msStr(f.us)}, ${pct(share)} of busy time${perReq ? `, ${(f.us / perReq).toFixed(1)} µs per request` : ''}`;
    const label = fit(depth === 0 ? `all: ${msStr(f.us)} busy` : f.label, w);
    out.push(
      `<g class="f"><title>${esc(tip)}</title><rect x="${px(x)}" y="${y}" width="${px(w)}" height="${ROW - 1}" fill="${colourOf(f.kind, f.label)}"/>` +
        (label ? `<text x="${px(x + 3)}" y="${y + 11}">${esc(label)}</text>` : '') +
        '</g>',
    );
  }
  out.push('</svg>', '');
  return out.join('\n');
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  const { file, numberAfter } = profileCommandLine('tsx bench/lib/flamegraph.ts <file.cpuprofile> [--last <sec>] [--skip-end <sec>] [--requests <n>] > out.svg');
  process.stdout.write(flameGraphSvg(file, { lastSec: numberAfter('--last'), skipEndSec: numberAfter('--skip-end'), requests: numberAfter('--requests') }));
}
