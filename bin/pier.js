#!/usr/bin/env node
// `npx pier …`: runs the TypeScript CLI (src/cli/index.ts) through tsx's ESM loader, in this process.
import { register } from 'tsx/esm/api';

register();
const { main } = await import(new URL('../src/cli/index.ts', import.meta.url).href);
process.exitCode = await main(process.argv);
