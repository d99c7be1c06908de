/**
 * package.json's `engines.node` is the Node the README promises. npm's --engine-strict (CI) checks the
 * dependencies only against the Node that runs CI, so this checks the promise itself: every locked
 * package's own `engines.node`, dev tools included (the README's test command needs them), admits
 * every Node that Pier's range admits.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import semver from 'semver';
import { expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[] }>;
};

/** the locked packages whose own Node range leaves out part of `range` */
function narrowerThan(range: string): string[] {
  const narrower: string[] = [];
  for (const [path, pkg] of Object.entries(lock.packages)) {
    if (path === '' || Array.isArray(pkg.engines) || !pkg.engines?.node) continue;
    if (!semver.subset(range, pkg.engines.node)) narrower.push(`${path.replace(/^.*node_modules\//, '')} (${pkg.engines.node})`);
  }
  return narrower.sort();
}

it("every locked dependency supports every Node that package.json's engines admit", () => {
  expect(manifest.engines.node).toBe('^20.19.0 || ^22.13.0 || 24.x || 25.x || 26.x');
  expect(narrowerThan(manifest.engines.node)).toEqual([]);
});

it('would catch a promise wider than the dependencies keep (">=20" before: undici needs 20.18.1, vite 20.19)', () => {
  expect(narrowerThan('>=20')).toEqual(expect.arrayContaining([expect.stringMatching(/^undici \(>=20\.18\.1\)$/), expect.stringMatching(/^vite \(/)]));
});
