/**
 * The bench's servers as compiled code: Pier runs as `npm start` runs it (bin/start.js: the bundle
 * of src/ that bin/compiled.js makes), and the yardstick from a bundle made with the same esbuild
 * options, so neither pays tsx's way of running TypeScript and the two are compared alike
 * (docs/decisions/0091-bench-runs-compiled-servers.md).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { bundleBuildOptions } from '../../bin/compiled.js';
import { ROOT } from './proc.js';

/** Pier's entry for startNode: npm start's launcher, which builds or reuses the bundle of src/. */
export const PIER_ENTRY = 'bin/start.js';

/**
 * Bundles the TypeScript module `entry` (a path under the project) into node_modules/.cache/pier-bench/
 * (inside the project, so the bundle's imports of packages resolve as the sources' do) and answers
 * the bundle's path. One file per process and entry, removed by `remove`.
 */
export async function compiled(entry: string): Promise<{ file: string; remove(): void }> {
  const dir = join(ROOT, 'node_modules', '.cache', 'pier-bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${entry.replace(/\.ts$/, '').replace(/[^A-Za-z0-9]+/g, '-')}-${process.pid}.mjs`);
  await esbuild.build({ ...bundleBuildOptions(join(ROOT, entry), file), write: true });
  return { file, remove: () => rmSync(file, { force: true }) };
}
