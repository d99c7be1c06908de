#!/usr/bin/env node
// `npm start`: the server (src/main.ts) from the bundle of src/ that bin/compiled.js makes on first
// use, or through tsx's loader when it cannot be made. PIER_WORKERS' workers run this file too.
import { importCompiled } from './compiled.js';

const { runServer } = await importCompiled('main.ts');
await runServer();
