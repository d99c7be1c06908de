// Types of bin/compiled.js (a plain ES module: the launchers run before anything is compiled).
import type { BuildOptions } from 'esbuild';

/** `entry`: a path under the project's src/ (`cli/index.ts`). Resolves to the module's namespace. */
export function importCompiled(entry: string, root?: string): Promise<any>;
/** The bundle's file, made now unless it exists for these sources. */
export function bundleOf(root: string, entry: string): Promise<string>;
/** esbuild's options for a bundle of the TypeScript module `entryPath`, meant to be written to `outfile`. */
export function bundleBuildOptions(entryPath: string, outfile: string): BuildOptions;
