// Imports one of Pier's TypeScript entry points as a single ES module esbuild made from src/, kept
// in node_modules/.cache/pier/ until a file under src/ changes. Through tsx's loader every one of
// the ~250 source modules and their packages' ~1,500 costs a round trip to tsx's loader thread:
// about 2 s of CPU before the CLI's first line, against under 1 s for the bundle (docs/decisions/0040).
// Packages stay outside the bundle (Node loads them as usual). Anything that fails here (no
// esbuild, a read-only node_modules) falls back to tsx, as before.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** `entry`: a path under the project's src/ (`cli/index.ts`). Resolves to the module's namespace. */
export async function importCompiled(entry, root = join(dirname(fileURLToPath(import.meta.url)), '..')) {
  let bundle = null;
  try {
    bundle = await bundleOf(root, entry);
  } catch (err) {
    if (process.env.PIER_DEBUG) process.stderr.write(`pier: running from source (${err.message})\n`);
  }
  if (bundle) {
    // stack traces name src/…/x.ts and its lines, as under tsx
    process.setSourceMapsEnabled(true);
    return import(pathToFileURL(bundle).href);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(join(root, 'src', entry)).href);
}

/** The bundle's file, made now unless it exists for these sources. */
export async function bundleOf(root, entry) {
  const src = join(root, 'src');
  const cache = join(root, 'node_modules', '.cache', 'pier');
  // one checkout's bundles only: another checkout may share this node_modules (a symlink)
  const name = `${entry.replace(/\.ts$/, '').replace(/[^A-Za-z0-9]+/g, '-')}-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
  const file = join(cache, `${name}-${sourceFingerprint(root, src)}.mjs`);
  try {
    statSync(file);
    return file;
  } catch {
    // not built for these sources yet
  }
  const esbuild = await import('esbuild');
  const built = await esbuild.build({ ...bundleBuildOptions(join(src, entry), file), write: false });
  mkdirSync(cache, { recursive: true });
  // written aside and renamed: a CLI started meanwhile never imports half a file
  const partial = `${file}.${process.pid}.partial`;
  writeFileSync(partial, built.outputFiles[0].contents);
  renameSync(partial, file);
  for (const old of readdirSync(cache)) {
    if (!old.startsWith(`${name}-`) || join(cache, old) === file) continue;
    // another build's file aside stays while its process lives; one killed before its rename left it
    const builder = /\.(\d+)\.partial$/.exec(old)?.[1];
    if (builder === undefined || !isAlive(Number(builder))) rmSync(join(cache, old), { force: true });
  }
  return file;
}

/**
 * esbuild's options for a bundle of the TypeScript module `entryPath` (and what it imports, packages
 * left out) meant to be written to `outfile`. The bench compiles its yardstick with these too, so
 * both servers it compares run as compiled code (bench/lib/compile.ts).
 */
export function bundleBuildOptions(entryPath, outfile) {
  return {
    entryPoints: [entryPath],
    // the source map's paths are relative to where the bundle goes
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    // as tsx compiles: functions and classes keep their names
    keepNames: true,
    sourcemap: 'inline',
    logLevel: 'silent',
    plugins: [ownModuleUrls],
  };
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it lives, as another user's process
    return err.code === 'EPERM';
  }
}

/**
 * Every module keeps its own `import.meta.url` (src/…/x.ts): Pier finds its web assets, the SDK
 * sources and its packages relative to the module that asks, not to the bundle.
 */
const ownModuleUrls = {
  name: 'own-module-urls',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/** Changes whenever a file under src/ (or this launcher, or esbuild) changes: path, size and time of each. */
function sourceFingerprint(root, src) {
  const hash = createHash('sha256');
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  hash.update(readFileSync(join(root, 'node_modules', 'esbuild', 'package.json')));
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else {
        const s = statSync(path);
        hash.update(`${relative(src, path)}\0${s.size}\0${s.mtimeMs}\n`);
      }
    }
  };
  walk(src);
  return hash.digest('hex').slice(0, 16);
}
