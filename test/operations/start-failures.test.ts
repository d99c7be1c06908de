/**
 * `npm start` (bin/start.js, a real child process) with what an operator gets wrong at start: a bad
 * vault key, a database that does not answer, a port already taken. Each must stop Pier with one
 * clear line on stderr and a non-zero exit: no stack trace, no key material, no password.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envWithoutPier, freePort, PIER_BANNER, startChild } from '../child-process.js';
import { freshDatabase } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-start-failures-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** `timeoutMs`: past it the start is ended with SIGTERM (a Pier that neither serves nor exits) */
function start(extra: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...envWithoutPier(), DATABASE_URL: db.url, PIER_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', PIER_SIMULATOR_PORT: '0', LOG_LEVEL: 'warn', ...extra };
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env, timeout: timeoutMs }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** one line naming the problem: no stack frames, no `throw` source excerpt */
function expectOneClearLine(stderr: string, pattern: RegExp) {
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(stderr).not.toMatch(/\^\n/);
  expect(stderr.trim().split('\n')).toHaveLength(1);
}

describe('a start that cannot succeed', () => {
  it('a vault key without its id (the key itself pasted alone) is a configuration error, exit 78, and not one character of the key is printed', async () => {
    const key = randomBytes(32).toString('base64');
    const r = await start({ PIER_VAULT_KEYS: key });
    expect(r.code).toBe(78);
    expectOneClearLine(r.stderr, /^pier: configuration error: .*"vault\.keys"/);
    expect(r.stderr).not.toContain(key.slice(0, 8));
  });

  it('a vault key of the wrong length is a configuration error, exit 78', async () => {
    const r = await start({ PIER_VAULT_KEYS: `k1:${randomBytes(16).toString('base64')}` });
    expect(r.code).toBe(78);
    expectOneClearLine(r.stderr, /^pier: configuration error: .*"vault\.keys".*k1.*32 bytes/);
  });

  it.each([
    ['PIER_TRUST_PROXY', '10.0.0.0/33', /"trustProxy".*10\.0\.0\.0\/33/],
    ['PIER_TRUST_PROXY', 'proxy.internal', /"trustProxy".*proxy\.internal/],
    // sandbox does not guard webhook destinations, but the same file goes to production next
    ['PIER_WEBHOOK_ALLOW_PRIVATE', '10.20.0.0/33', /"webhooks\.allowPrivate".*10\.20\.0\.0\/33/],
  ])('%s=%s is a configuration error naming the key, exit 78', async (name, value, message) => {
    const r = await start({ [name]: value });
    expect(r.code).toBe(78);
    expectOneClearLine(r.stderr, message);
  });

  it('PORT=65524 in sandbox (its embedded simulators on 65535 and 65536) is a configuration error naming simulator.port, exit 78, before anything listens', async () => {
    // PIER_SIMULATOR_PORT unset (undefined is left out of the child's environment): the simulators follow PORT
    const r = await start({ PIER_MODE: 'sandbox', PORT: '65524', PIER_SIMULATOR_PORT: undefined as unknown as string });
    expect(r.code).toBe(78);
    expectOneClearLine(r.stderr, /^pier: configuration error: invalid configuration key "simulator\.port": .*65535.*65536/);
  });

  it('a PostgreSQL server that refuses connections: one line naming the database (without its password), exit 1', async () => {
    const port = await freePort();
    const r = await start({ DATABASE_URL: `postgres://pier:hunter2@127.0.0.1:${port}/pier` });
    expect(r.code).toBe(1);
    expectOneClearLine(r.stderr, new RegExp(`^pier: cannot start: .*postgres://127\\.0\\.0\\.1:${port}/pier.*ECONNREFUSED`));
    expect(r.stderr).not.toContain('hunter2');
  });

  it('a port another program holds: one line naming the address, exit 1', async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await start({ PORT: String(port) });
      expect(r.code).toBe(1);
      expectOneClearLine(r.stderr, new RegExp(`^pier: cannot start: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    } finally {
      holder.close();
    }
  });

  it('with PIER_WORKERS=2, a port another program holds stops Pier too: exit 1 with the one clear line, not workers forked again for good behind a primary that never serves', async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      // a failed start takes a few seconds; before, the primary forked its workers again (backoff
      // up to 30 s) until the service manager gave up, and exited 0 on the SIGTERM that ended it
      const r = await start({ PORT: String(port), PIER_WORKERS: '2' }, 60_000);
      expect(r.code).toBe(1);
      // each worker that tried says so, in the same one line
      const lines = r.stderr.trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(1);
      for (const line of lines) expect(line).toMatch(new RegExp(`^pier: cannot start: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}$`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).not.toMatch(/Pier is running/);
    } finally {
      holder.close();
    }
  }, 120_000);

  it("a sandbox's first start that fails on a taken port makes no demo console user: the next start shows its password", async () => {
    const own = await freshDatabase();
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const failed = await start({ DATABASE_URL: own.url, PIER_MODE: 'sandbox', PORT: String(port) });
      expect(failed.code).toBe(1);
      expect(failed.stdout).not.toMatch(/password/);
      await new Promise((r) => holder.close(r));
      const env = { ...envWithoutPier(), DATABASE_URL: own.url, PIER_DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', PIER_SIMULATOR_PORT: '0', LOG_LEVEL: 'warn', PIER_MODE: 'sandbox' };
      const pier = startChild('Pier', [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env });
      try {
        await pier.waitFor(PIER_BANNER);
        const line = (await pier.waitFor(/console\s+demo@pier\.local[^\n]*\n/))[0];
        // the user's password, once: not "(password shown on the first start …)"
        expect(line).toMatch(/password \S{12,}\s+\(shown once: save it\)/);
      } finally {
        pier.process.kill('SIGTERM');
        await pier.exited;
      }
    } finally {
      if (holder.listening) holder.close();
      await own.drop();
    }
  }, 180_000);
});
