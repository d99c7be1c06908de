/**
 * No function made per payment has a name to set (decision 0030). Pier runs from a bundle built
 * with esbuild's `keepNames` (bin/compiled.js; tsx compiles the same way), which follows every named
 * function made inside another (an arrow assigned to a variable or a property, a nested function
 * declaration) with an Object.defineProperty of its name, each time it is made: on the payment path
 * that was 16 µs of a payment's CPU at 200 payments/s (docs/performance.md, twenty-ninth round).
 *
 * Pier as `npm start` runs it, in a child process with a preload counting the names set, by the
 * line that set them, over a window of payments after a warm-up. Background lanes claim once a
 * second meanwhile and may name a few functions; a function made per payment names one per payment.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { childPier } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';

const PAYMENTS = 40;
let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
let namesFile: string;
const pier = childPier(() => ({
  databaseUrl: db.url,
  dataDir,
  simulatorUrl,
  env: { NODE_OPTIONS: `--import ${resolve(import.meta.dirname, 'function-names-preload.mjs')}`, PIER_TEST_FUNCTION_NAMES_FILE: namesFile },
}));

async function api(path: string, token: string | null, body: unknown) {
  const res = await fetch(`${pier.url()}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { code: number; message: string | null; response: any };
}

/** The names set in the child between two SIGUSR2, as [line, count] pairs. */
async function namesSetDuring(work: () => Promise<void>): Promise<Array<[string, number]>> {
  const pid = pier.pid()!;
  rmSync(namesFile, { force: true });
  rmSync(`${namesFile}.open`, { force: true });
  // a signal is handled on the child's event loop, later: the window is open once it says so
  process.kill(pid, 'SIGUSR2');
  await written(`${namesFile}.open`);
  await work();
  process.kill(pid, 'SIGUSR2');
  await written(namesFile);
  return JSON.parse(readFileSync(namesFile, 'utf8'));
}

async function written(file: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`the child did not write ${file}`);
    await new Promise((r) => setTimeout(r, 20)); // polling another process's file
  }
}

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:' });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-names-'));
  namesFile = join(dataDir, 'function-names.json');
  await pier.start();
}, 300_000);
afterAll(async () => {
  await pier.kill('SIGTERM');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('functions made per payment', () => {
  it('names none per `again` payment', async () => {
    const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).response.access_token as string;
    const key = await api('/subscribe/customers/names_customer', token, { card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }), expiry: '2030-12', birth: '820213', pwd_2digit: '00' });
    expect(key.code).toBe(0);
    const pay = async (merchantUid: string) => {
      const r = await api('/subscribe/payments/again', token, { customer_uid: 'names_customer', merchant_uid: merchantUid, amount: 1_000, name: 'names' });
      expect([r.code, r.response?.status, r.response?.merchant_uid]).toEqual([0, 'paid', merchantUid]);
    };
    // the first payments make what is made once (statement templates, shapes, caches)
    for (let i = 0; i < 10; i++) await pay(`names_warm_${i}`);

    const sites = await namesSetDuring(async () => {
      for (let i = 0; i < PAYMENTS; i++) await pay(`names_${i}`);
    });
    // a function made on every payment, or on every other one (background lanes name a few a second)
    const perPayment = sites.filter(([, n]) => n >= PAYMENTS / 2);
    expect(perPayment, `functions named on half the payments or more, by the line that made them:\n${perPayment.map(([s, n]) => `${n} × ${s}`).join('\n')}`).toEqual([]);
  }, 120_000);
});
