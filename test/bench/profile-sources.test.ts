/**
 * The bench runs Pier and the yardstick as bundles (bench/lib/compile.ts); their CPU profiles name
 * the bundle's lines, and bench/lib/profile.ts's readProfile names them after the sources again
 * through the bundle's inline source map, so that areas (`pier src/core`) and lines read as before.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiled } from '../../bench/lib/compile.js';
import { areaOf, readProfile, whereOf, type CpuProfile } from '../../bench/lib/profile.js';
import { ROOT } from '../../bench/lib/proc.js';

let bundle: Awaited<ReturnType<typeof compiled>>;
let dir: string;
beforeAll(async () => {
  bundle = await compiled('src/lib/clock.ts');
  dir = mkdtempSync(join(tmpdir(), 'pier-profile-'));
});
afterAll(() => {
  bundle?.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** 0-based line and column of `text`'s first occurrence in `source` */
function positionOf(source: string, text: string): { line: number; column: number } {
  const at = source.indexOf(text);
  expect(at).toBeGreaterThanOrEqual(0);
  const before = source.slice(0, at).split('\n');
  return { line: before.length - 1, column: before[before.length - 1].length };
}

describe("a bundle's frames in a CPU profile", () => {
  it('are named by the source file and line they came from; other frames are left as they are', () => {
    const inBundle = positionOf(readFileSync(bundle.file, 'utf8'), 'function kstParts(');
    const inSource = positionOf(readFileSync(join(ROOT, 'src/lib/clock.ts'), 'utf8'), 'function kstParts(');
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1 }, children: [2, 3] },
        { id: 2, callFrame: { functionName: 'kstParts', url: pathToFileURL(bundle.file).href, lineNumber: inBundle.line, columnNumber: inBundle.column } },
        { id: 3, callFrame: { functionName: 'writev', url: 'node:internal/stream_base_commons', lineNumber: 122, columnNumber: 4 } },
      ],
      startTime: 0,
      endTime: 2,
      samples: [2, 3],
      timeDeltas: [1, 1],
    };
    const file = join(dir, 'bundle.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    const read = readProfile(file);
    const [, kst, writev] = read.nodes.map((n) => n.callFrame);
    expect(kst.url).toBe(pathToFileURL(join(ROOT, 'src/lib/clock.ts')).href);
    expect(kst.lineNumber).toBe(inSource.line);
    expect(areaOf(kst)).toBe('pier src/lib');
    expect(whereOf(kst)).toBe(`src/lib/clock.ts:${inSource.line + 1}`);
    expect(writev).toEqual({ functionName: 'writev', url: 'node:internal/stream_base_commons', lineNumber: 122, columnNumber: 4 });
  });
});
