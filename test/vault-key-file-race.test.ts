import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Vault } from '../src/vault/vault.js';

/**
 * A sandbox's vault key file, made by whichever Pier process starts first on a data dir: processes
 * started at once (two containers, a restart overlapping the old process) each read the one key that
 * was made, whole. Written in place, a process read the file still empty ("vault: no keys given",
 * seen in racing-starts on PostgreSQL) or two processes each made a key of their own. Real
 * processes, released together by a file they wait for.
 */
const ROOT = resolve(import.meta.dirname, '..');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const VAULT = pathToFileURL(join(ROOT, 'src', 'vault', 'vault.ts')).href;
const PROCESSES = 6;
const ROUNDS = 4;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** One process: waits for `go`, opens (or makes) the key file, prints a value sealed with it. */
function opener(keyFile: string, go: string, ready: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = [
    `import { existsSync, writeFileSync } from 'node:fs';`,
    `import { Vault } from ${JSON.stringify(VAULT)};`,
    `writeFileSync(${JSON.stringify(ready)} + process.pid, '');`,
    // spinning, not sleeping: every process leaves the wait within microseconds of the others
    `while (!existsSync(${JSON.stringify(go)})) {}`,
    `process.stdout.write(Vault.fromKeyFile(${JSON.stringify(keyFile)}).seal('pier'));`,
  ].join('\n');
  return new Promise((done) => {
    execFile(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe('a sandbox vault key file made by processes starting at once', () => {
  it('is made once, whole: every process starts with the same key', async () => {
    for (let round = 1; round <= ROUNDS; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'pier-vault-race-'));
      dirs.push(dir);
      const keyFile = join(dir, 'data', 'vault.key');
      const go = join(dir, 'go');
      const ready = join(dir, 'ready-');
      const runs = Array.from({ length: PROCESSES }, () => opener(keyFile, go, ready));
      // released together once every process waits (bounded by the runs' own timeout)
      while (readdirSync(dir).filter((f) => f.startsWith('ready-')).length < PROCESSES) await new Promise((r) => setImmediate(r));
      writeFileSync(go, '');
      const results = await Promise.all(runs);
      for (const r of results) expect({ round, code: r.code, stderr: r.stderr }).toEqual({ round, code: 0, stderr: '' });
      const vault = Vault.fromKeyFile(keyFile);
      for (const r of results) expect(vault.open(r.stdout), `round ${round}`).toBe('pier');
      // nothing left beside it
      expect(readdirSync(join(dir, 'data'))).toEqual(['vault.key']);
      expect(existsSync(keyFile)).toBe(true);
    }
  }, 120_000);
});
