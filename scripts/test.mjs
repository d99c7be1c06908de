#!/usr/bin/env node
// `npm test`: the whole suite on SQLite, then again on PostgreSQL (TEST_DATABASE_URL, default the
// local server). Extra arguments go to vitest. Ends with one plain "N passed, N failed" line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const pgUrl = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const totals = { passed: 0, failed: 0, skipped: 0 };
let failedRun = false;
mkdirSync('test-artifacts', { recursive: true });

for (const [label, dbUrl] of [
  ['sqlite', ''],
  ['postgres', pgUrl],
]) {
  console.log(`\n=== vitest on ${label} ===`);
  const outFile = `test-artifacts/vitest-${label}.json`;
  if (existsSync(outFile)) rmSync(outFile);
  const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${outFile}`, ...process.argv.slice(2)];
  const r = spawnSync('npx', args, { stdio: 'inherit', env: { ...process.env, TEST_DATABASE_URL: dbUrl } });
  if (r.status !== 0) failedRun = true;
  if (existsSync(outFile)) {
    const j = JSON.parse(readFileSync(outFile, 'utf8'));
    totals.passed += j.numPassedTests;
    totals.failed += j.numFailedTests;
    totals.skipped += j.numPendingTests + j.numTodoTests;
  } else {
    failedRun = true;
  }
}
console.log(`\nvitest: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedRun ? 1 : 0);
