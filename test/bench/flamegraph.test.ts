/**
 * bench/lib/flamegraph.ts on a hand-made .cpuprofile: frame widths are shares of the busy samples,
 * idle is left out, the window is the summary's, siblings with one label merge, narrow frames go
 * with their children, and names that are not XML-safe come out escaped (checked by Chromium's XML
 * parser, when /usr/bin/chromium is there).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flameGraphSvg } from '../../bench/lib/flamegraph.js';
import { ROOT } from '../../bench/lib/proc.js';
import { CHROMIUM, HAS_CHROMIUM } from '../chromium.js';
import { summarizeProfile, type CpuProfile } from '../../bench/lib/profile.js';

const TRICKY = `tricky&<name>"q'`;
const file = (path: string) => `file://${ROOT}/${path}`;

/** nodes: id → [functionName, url, lineNumber (0-based), parent id] */
const NODES: Record<number, [string, string, number, number | null]> = {
  1: ['(root)', '', -1, null],
  2: ['(program)', '', -1, 1],
  3: ['(idle)', '', -1, 1],
  4: ['(garbage collector)', '', -1, 1],
  5: ['main', file('src/main.ts'), 9, 1],
  // two nodes of one function on one line (V8 keeps them apart, e.g. by column): one frame
  6: ['handle', file('src/api/handle.ts'), 20, 5],
  7: ['handle', file('src/api/handle.ts'), 20, 5],
  8: [TRICKY, file('node_modules/fastify/lib/route.js'), 5, 5],
  9: ['query', file('node_modules/pg/lib/client.js'), 100, 6],
  10: ['query', file('node_modules/pg/lib/client.js'), 100, 7],
  11: ['tiny', 'node:internal/tiny', 0, 5],
  12: ['tinyChild', 'node:internal/tiny', 3, 11],
  13: ['migrate', file('src/store/migrate.ts'), 1, 5],
  14: ['shutdown', file('src/main.ts'), 40, 5],
};

/** a profile whose samples are `runs` ([node id, count] in order), one every millisecond */
function profileOf(runs: Array<[number, number]>): CpuProfile {
  const samples = runs.flatMap(([id, n]) => Array.from({ length: n }, () => id));
  return {
    nodes: Object.entries(NODES).map(([id, [functionName, url, lineNumber]]) => ({
      id: Number(id),
      callFrame: { functionName, url, lineNumber },
      children: Object.entries(NODES)
        .filter(([, n]) => n[3] === Number(id))
        .map(([c]) => Number(c)),
    })),
    startTime: 0,
    endTime: samples.length * 1000,
    samples,
    timeDeltas: samples.map(() => 1000),
  };
}

const unescapeXml = (s: string) => s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);

function framesOf(svg: string) {
  const re = /<g class="f"><title>([^<]*)<\/title><rect x="([\d.]+)" y="(\d+)" width="([\d.]+)" height="\d+" fill="([^"]+)"\/>(?:<text x="[\d.]+" y="\d+">([^<]*)<\/text>)?<\/g>/g;
  const frames = [...svg.matchAll(re)].map((m) => {
    const [label, detail] = unescapeXml(m[1]).split('\n');
    return { label, detail, x: Number(m[2]), y: Number(m[3]), width: Number(m[4]), fill: m[5], text: m[6] === undefined ? undefined : unescapeXml(m[6]) };
  });
  expect(frames.length).toBe(svg.split('<g class="f">').length - 1); // every frame matched
  return new Map(frames.map((f) => [f.label, f]));
}

// 100 ms busy: program 5, GC 5, query 30 + 20 under the two `handle` nodes, handle itself 20,
// the tricky name 18, tiny 1 + its child 1; idle 10 (+ the last sample, which stands for no time)
const MAIN_RUNS: Array<[number, number]> = [
  [3, 10],
  [2, 5],
  [4, 5],
  [9, 30],
  [10, 20],
  [6, 20],
  [8, 18],
  [11, 1],
  [12, 1],
  [3, 1],
];
const INNER = 1180; // 1200 px less 10 px either side

describe('flame graph of a .cpuprofile', () => {
  let svg: string;
  let frames: ReturnType<typeof framesOf>;
  beforeAll(() => {
    svg = flameGraphSvg(profileOf(MAIN_RUNS), { title: 'hand-made', requests: 50, minShare: 0.025 });
    frames = framesOf(svg);
  });

  it('widths are shares of the busy samples; idle is not drawn and the subtitle says how busy', () => {
    expect(frames.get('all')!.width).toBe(INNER);
    expect(frames.get('all')!.detail).toBe('100 ms, 100.0% of busy time, 2000.0 µs per request');
    expect(frames.get('main src/main.ts:10')!.width).toBe(INNER * 0.9);
    expect(frames.get('(garbage collector)')!.width).toBe(INNER * 0.05);
    expect(frames.get('(program)')!.width).toBe(INNER * 0.05);
    expect(frames.get(`${TRICKY} fastify/lib/route.js:6`)!.detail).toBe('18 ms, 18.0% of busy time, 360.0 µs per request');
    expect([...frames.keys()].some((l) => l.includes('idle'))).toBe(false);
    expect(svg).toContain('0.1 s window, 111 samples; main thread busy 90.9% of it (idle left out); 50 requests answered: 2000 µs busy per request');
  });

  it('merges sibling frames with one label, children included', () => {
    const handle = frames.get('handle src/api/handle.ts:21')!;
    expect(handle.width).toBe(INNER * 0.7);
    expect(handle.detail).toMatch(/^70 ms, 70\.0% /);
    const query = frames.get('query pg/lib/client.js:101')!;
    expect(query.width).toBe(INNER * 0.5);
    expect(query.x).toBe(handle.x);
    expect(svg.split('>handle src/api/handle.ts:21<').length - 1).toBe(1);
  });

  it('the root at the bottom, one row per depth, siblings in name order', () => {
    const all = frames.get('all')!;
    const main = frames.get('main src/main.ts:10')!;
    const handle = frames.get('handle src/api/handle.ts:21')!;
    const query = frames.get('query pg/lib/client.js:101')!;
    expect([all.y - main.y, main.y - handle.y, handle.y - query.y]).toEqual([16, 16, 16]);
    // (garbage collector) < (program) < main; under main: handle, tiny (left out, its room kept), tricky
    expect(frames.get('(garbage collector)')!.x).toBe(10);
    expect(frames.get('(program)')!.x).toBe(10 + INNER * 0.05);
    expect(main.x).toBe(10 + INNER * 0.1);
    expect(frames.get(`${TRICKY} fastify/lib/route.js:6`)!.x).toBeCloseTo(10 + INNER * (0.1 + 0.7 + 0.02), 1);
  });

  it('leaves out frames narrower than minShare, with their children', () => {
    expect(frames.has('tiny node:internal/tiny:1')).toBe(false);
    expect(frames.has('tinyChild node:internal/tiny:4')).toBe(false);
    // at the default 0.1 % both are drawn
    const all = framesOf(flameGraphSvg(profileOf(MAIN_RUNS)));
    expect(all.get('tiny node:internal/tiny:1')!.width).toBe(INNER * 0.02);
    expect(all.get('tinyChild node:internal/tiny:4')!.width).toBe(INNER * 0.01);
  });

  it('colours by area: Pier orange, a package one hue for all its frames, node internals grey, GC red', () => {
    const hsl = (label: string) => frames.get(label)!.fill.match(/^hsl\((\d+),(\d+)%,(\d+)%\)$/)!.slice(1).map(Number);
    const [pierHue] = hsl('handle src/api/handle.ts:21');
    expect(pierHue).toBeGreaterThanOrEqual(16);
    expect(pierHue).toBeLessThanOrEqual(42);
    expect(hsl('(garbage collector)')[0]).toBeLessThanOrEqual(4);
    expect(hsl('(garbage collector)')[1]).toBe(80);
    const pg = hsl('query pg/lib/client.js:101');
    expect(pg[0]).toBeGreaterThanOrEqual(95);
    // the same package in another graph: the same hue
    const other = framesOf(flameGraphSvg(profileOf([[10, 5], [3, 1]])));
    expect(other.get('query pg/lib/client.js:101')!.fill).toBe(frames.get('query pg/lib/client.js:101')!.fill);
    const grey = framesOf(flameGraphSvg(profileOf(MAIN_RUNS))).get('tiny node:internal/tiny:1')!.fill;
    expect(grey).toMatch(/^hsl\(0,0%,/);
  });

  it('escapes names and truncates labels to their frame', () => {
    const tricky = frames.get(`${TRICKY} fastify/lib/route.js:6`)!;
    // 212.4 px hold (212.4 - 6) / 6.7 = 30 characters: 28 and `..`
    expect(tricky.text).toBe(`${TRICKY} fastify/lib..`);
    expect(svg).toContain('tricky&amp;&lt;name&gt;&quot;q&apos; fastify');
    expect(svg).not.toContain(TRICKY);
    // no & that does not start an entity
    expect(svg.match(/&(?!(amp|lt|gt|quot|apos);)/g)).toBeNull();
    // 59 px hold 7 characters; a frame of 11.8 px not even 3, and has no text at all
    expect(frames.get('(program)')!.text).toBe('(prog..');
    const narrow = framesOf(flameGraphSvg(profileOf(MAIN_RUNS)));
    expect(narrow.get('tinyChild node:internal/tiny:4')!.text).toBeUndefined();
  });
});

describe('the window', () => {
  // 20 ms start-up (migrate), 60 ms load (handle → query), 20 ms shut-down, then idle: samples at
  // 1, 2, ... 101 ms, the profile's end at 101 ms
  const runs: Array<[number, number]> = [
    [13, 20],
    [9, 40],
    [6, 20],
    [14, 20],
    [3, 1],
  ];
  const dir = mkdtempSync(join(tmpdir(), 'pier-flame-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'load.cpuprofile');
  writeFileSync(path, JSON.stringify(profileOf(runs)));

  it('the whole profile without one', () => {
    const frames = framesOf(flameGraphSvg(path));
    expect(frames.get('all')!.detail).toMatch(/^100 ms, /);
    expect(frames.has('migrate src/store/migrate.ts:2')).toBe(true);
    expect(frames.has('shutdown src/main.ts:41')).toBe(true);
    // titled by the file's name when no title is given
    expect(flameGraphSvg(path)).toContain('>load.cpuprofile</text>');
  });

  it("the last seconds before the end, as bench/lib/profile.ts's summary counts them", () => {
    const window = { lastSec: 0.0595, skipEndSec: 0.021 };
    const svg = flameGraphSvg(path, window);
    const frames = framesOf(svg);
    expect(frames.has('migrate src/store/migrate.ts:2')).toBe(false);
    expect(frames.has('shutdown src/main.ts:41')).toBe(false);
    expect(frames.get('all')!.detail).toMatch(/^60 ms, /);
    expect(frames.get('query pg/lib/client.js:101')!.width).toBeCloseTo((INNER * 40) / 60, 1);
    expect(svg).toContain('0.1 s window, 60 samples; main thread busy 100.0% of it');
    const s = summarizeProfile(path, window);
    expect(s.windowMs * s.busyShare).toBe(60);
  });

  it('an empty window says so', () => {
    const svg = flameGraphSvg(path, { lastSec: 0.0004, skipEndSec: 0.0003 });
    expect(svg).toContain('no busy samples in the window');
    expect(framesOf(svg).size).toBe(0);
  });
});

describe.skipIf(!HAS_CHROMIUM)('the SVG is well-formed XML (Chromium)', () => {
  it('parses, and every tooltip reads back as the name', async () => {
    // a control character is not allowed in XML even as an entity: it comes out as ?
    const svg = flameGraphSvg(profileOf(MAIN_RUNS), { title: `a & b <c> "d" 'e'\u0001` });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'], headless: true });
    try {
      const page = await browser.newPage();
      const parsed = await page.evaluate((text) => {
        const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
        return {
          error: doc.getElementsByTagName('parsererror')[0]?.textContent ?? null,
          root: doc.documentElement.nodeName,
          title: doc.querySelector('text')?.textContent,
          tips: [...doc.querySelectorAll('g > title')].map((t) => t.textContent!.split('\n')[0]),
        };
      }, svg);
      expect(parsed.error).toBeNull();
      expect(parsed.root).toBe('svg');
      expect(parsed.title).toBe(`a & b <c> "d" 'e'?`);
      expect(parsed.tips).toContain(`${TRICKY} fastify/lib/route.js:6`);
      expect(parsed.tips).toHaveLength(framesOf(svg).size);
    } finally {
      await browser.close();
    }
  });
});
if (!HAS_CHROMIUM) console.warn(`!!! flamegraph XML check DID NOT RUN: ${CHROMIUM} is missing (the escaping tests above still ran)`);
