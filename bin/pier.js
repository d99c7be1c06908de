#!/usr/bin/env node
// `npx pier …`: runs the TypeScript CLI (src/cli/index.ts) in this process, from a bundle of src/
// made on first use (bin/compiled.js), or through tsx's loader when it cannot be made.
import { importCompiled } from './compiled.js';

const { main } = await importCompiled('cli/index.ts');
process.exitCode = await main(process.argv);
