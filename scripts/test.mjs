#!/usr/bin/env node
// `npm test`: the whole suite on SQLite, then again on PostgreSQL (TEST_DATABASE_URL, default the
// local server). Extra arguments go to vitest. Ends with the failed tests, if any,
// and one plain "N passed, N failed" line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const pgUrl = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
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
    for (const file of j.testResults) {
      for (const t of file.assertionResults) {
        if (t.status !== 'failed') continue;
        const firstLine = (t.failureMessages[0] ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
        failures.push(`${label}: ${file.name.replace(`${process.cwd()}/`, '')} > ${t.fullName}\n    ${firstLine.slice(0, 300)}`);
      }
    }
    if (j.numFailedTestSuites > 0 && j.numFailedTests === 0) failures.push(`${label}: a test file failed outside its tests (see the log above)`);
  } else {
    failedRun = true;
  }
}
// The failures are named again last: a CI log cut to its tail still shows which test failed.
if (failures.length > 0) console.log(`\nfailed:\n${failures.map((f) => `  ${f}`).join('\n')}`);
console.log(`\nvitest: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedRun ? 1 : 0);
