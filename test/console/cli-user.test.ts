import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { signIn } from '../../src/core/console/users.js';
import type { Deps } from '../../src/core/deps.js';
import { systemClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { openStore } from '../../src/store/db.js';
import { Vault } from '../../src/vault/vault.js';
import { freshDatabase } from '../harness.js';

/** `pier user create|list` through bin/pier.js in a child process, as an operator runs it. */
const ROOT = resolve(import.meta.dirname, '..', '..');
let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  Object.assign(env, { DATABASE_URL: db.url, PIER_DATA_DIR: dataDir, PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9' });
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-cli-user-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('pier user', () => {
  it('creates console users (generated or given password), lists them, and explains bad input', async () => {
    expect((await run(['merchant', 'create', '--name', 'Console Shop', '--code', 'imp30300001'])).code).toBe(0);
    const gen = await run(['user', 'create', 'imp30300001', '--email', 'Ops@Shop.example']);
    expect(gen.stderr).toBe('');
    expect(gen.code).toBe(0);
    expect(gen.stdout).toContain('created console user ops@shop.example for imp30300001');
    const password = /^\s*password\s+(\S+)/m.exec(gen.stdout)![1];
    expect(password.length).toBeGreaterThanOrEqual(10);
    expect(gen.stdout).toContain('/console');

    const given = await run(['user', 'create', 'imp30300001', '--email', 'dev@shop.example', '--password', 'a-long-enough-pw']);
    expect(given.code).toBe(0);
    expect(given.stdout).not.toContain('a-long-enough-pw');

    const dup = await run(['user', 'create', 'imp30300001', '--email', 'ops@shop.example']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^pier: .*already exists/);
    const short = await run(['user', 'create', 'imp30300001', '--email', 'x@shop.example', '--password', 'short']);
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('--password: 10 to 200 characters');
    const badEmail = await run(['user', 'create', 'imp30300001', '--email', 'not-an-email']);
    expect(badEmail.code).toBe(1);
    expect(badEmail.stderr).toContain('--email');
    const unknown = await run(['user', 'create', 'imp99999999', '--email', 'y@shop.example']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown merchant code');

    const list = await run(['user', 'list', 'imp30300001']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/ops@shop\.example[\s\S]*dev@shop\.example/);

    const store = openStore(db.url, { poolSize: 2 });
    try {
      const deps: Deps = {
        store,
        vault: Vault.fromKeyFile(join(dataDir, 'vault.key')),
        clock: systemClock,
        logger: createLogger('silent'),
        mode: 'sandbox',
        connectors: createConnectorRegistry({ jtnet: { baseUrl: 'http://127.0.0.1:9', connectTimeoutMs: 1000, readTimeoutMs: 1000 } }),
      };
      expect((await signIn(deps, 'ops@shop.example', password)).outcome).toBe('ok');
      expect((await signIn(deps, 'dev@shop.example', 'a-long-enough-pw')).outcome).toBe('ok');
      await deps.connectors.close();
    } finally {
      await store.close();
    }
  });
});
