import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { signIn } from '../../src/core/console/users.js';
import { startPier } from '../../src/main.js';
import { freshDatabase } from '../harness.js';

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
const env = () => ({ PORT: '0', PIER_DATA_DIR: dataDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent', PIER_SIMULATOR_PORT: '0' });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-main-console-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function start() {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    const pier = await startPier(loadConfig(env()));
    return { pier, out };
  } finally {
    spy.mockRestore();
  }
}

describe('the console on a sandbox start', () => {
  it('prints the console URL and, on the first start only, a console user of the demo merchant that can sign in', async () => {
    const first = await start();
    try {
      expect(first.out).toMatch(/ {2}Console {6}http:\/\/localhost:\d+\/console/);
      const m = /console {6}(demo@pier\.local) {3}password (\S+)/.exec(first.out);
      expect(m, first.out).not.toBeNull();
      expect((await signIn(first.pier.deps, m![1], m![2])).outcome).toBe('ok');
      // the console answers on the listening server, with the sandbox tools wired to the simulator
      const page = await fetch(`${first.pier.address}/console/login`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('콘솔 로그인');
    } finally {
      await first.pier.stop();
    }
    const second = await start();
    try {
      expect(second.out).toContain('demo@pier.local');
      expect(second.out).not.toMatch(/demo@pier\.local {3}password/);
      expect(await second.pier.deps.store.db.selectFrom('console_users').select('email').execute()).toEqual([{ email: 'demo@pier.local' }]);
    } finally {
      await second.pier.stop();
    }
  });
});
