import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** Repository root (this file is src/api/checkout/sdk-bundle.ts). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let bundle: Promise<string> | null = null;

/**
 * The browser SDK (sdk/index.ts) bundled by esbuild into one minified IIFE, built in memory once per
 * process at first use (about 50 ms), so `npm start` on a fresh clone needs no build step.
 */
export function sdkBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [join(ROOT, 'sdk', 'index.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2018', 'chrome70', 'safari12'],
    write: false,
    legalComments: 'none',
    charset: 'utf8',
    banner: { js: "/* Pier SDK: window.IMP (PortOne/i'mport V1 compatible) */" },
  }).then((r) => r.outputFiles[0].text);
  bundle.catch(() => {
    bundle = null;
  });
  return bundle;
}
