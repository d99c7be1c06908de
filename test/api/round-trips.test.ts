/**
 * Database round trips per payment request (docs/performance.md), counted at the driver: every
 * pg `Client.query` on PostgreSQL, every better-sqlite3 statement run on SQLite (begin and commit
 * included). Guards against the payment paths growing extra queries again.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const sqlLog: string[] = [];
let counting = false;
const restore: Array<() => void> = [];

function hook(proto: Record<string, unknown>, method: string, text: (self: any, args: unknown[]) => string, filter?: (self: any) => boolean) {
  const orig = proto[method] as (...a: unknown[]) => unknown;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    if (counting && (!filter || filter(this))) sqlLog.push(text(this, args).replace(/\s+/g, ' '));
    return orig.apply(this, args);
  };
  restore.push(() => (proto[method] = orig));
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  if (pier.store.dialect === 'postgres') {
    hook(pg.Client.prototype as unknown as Record<string, unknown>, 'query', (_c, [q]) => (typeof q === 'string' ? q : String((q as { text?: string })?.text)));
  } else {
    const Database = createRequire(import.meta.url)('better-sqlite3');
    const mem = new Database(':memory:');
    const Statement = mem.prepare('select 1').constructor.prototype;
    mem.close();
    // Pier's database only: the in-process tPay simulator has its own (in memory)
    for (const method of ['run', 'all', 'get', 'iterate']) hook(Statement, method, (s) => String(s.source), (s) => s.database?.name === pier.sqliteFile);
  }
});
afterAll(async () => {
  for (const r of restore) r();
  await pier.close();
});

async function count(method: string, url: string, body: unknown) {
  sqlLog.length = 0;
  counting = true;
  const res = await pier.call(method, url, { token: m.token, body });
  counting = false;
  expect(res.body.code, JSON.stringify(res.body)).toBe(0);
  return { res, queries: [...sqlLog] };
}

const dashed = (n: string) => `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`;
const card = { card_number: dashed(testCardNumber({ kftcCode: '381', lastFour: '5678' })), expiry: '2030-01', birth: '123456' };

describe('database round trips per payment', () => {
  it('again: 8 (token, billing key + channel, attempt insert; begin, update, event, webhook targets, commit)', async () => {
    const key = await pier.call('POST', '/subscribe/customers/rt_cust', { token: m.token, body: { ...card } });
    expect(key.body.code).toBe(0);
    const { res, queries } = await count('POST', '/subscribe/payments/again', { customer_uid: 'rt_cust', merchant_uid: 'rt_again_1', amount: 1000, name: 'x' });
    expect(res.body.response).toMatchObject({ status: 'paid', merchant_uid: 'rt_again_1', cancel_history: [] });
    console.log(`again: ${queries.length} round trips\n  ${queries.map((q) => q.slice(0, 100)).join('\n  ')}`);
    expect(queries.length).toBe(8);
  });

  it('onetime: 8 (token, channels, attempt insert; begin, update, event, webhook targets, commit)', async () => {
    const { res, queries } = await count('POST', '/subscribe/payments/onetime', { merchant_uid: 'rt_once_1', amount: 1000, ...card });
    expect(res.body.response).toMatchObject({ status: 'paid', merchant_uid: 'rt_once_1', cancel_history: [] });
    console.log(`onetime: ${queries.length} round trips\n  ${queries.map((q) => q.slice(0, 100)).join('\n  ')}`);
    expect(queries.length).toBe(8);
  });
});
