#!/usr/bin/env node
// `npm test`: the whole suite on SQLite, then again on PostgreSQL (TEST_DATABASE_URL, default the
// local server). Extra arguments go to vitest. Ends with the failed tests, if any,
// and one plain "N passed, N failed" line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const pgUrl = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
const firstLine = (text = '') => (text.split('\n').find((l) => l.trim() !== '') ?? '').slice(0, 300);
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
      const where = `${label}: ${file.name.replace(`${process.cwd()}/`, '')}`;
      const failed = file.assertionResults.filter((t) => t.status === 'failed');
      for (const t of failed) failures.push(`${where} > ${t.fullName}\n    ${firstLine(t.failureMessages[0])}`);
      // a file can fail with none of its tests failed: a hook or the file's own code threw
      if (file.status === 'failed' && failed.length === 0) failures.push(`${where} (outside its tests)\n    ${firstLine(file.message)}`);
    }
  } else {
    failedRun = true;
  }
}
// The failures are named again last: a CI log cut to its tail still shows which test failed.
if (failures.length > 0) console.log(`\nfailed:\n${failures.map((f) => `  ${f}`).join('\n')}`);
console.log(`\nvitest: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedRun ? 1 : 0);
