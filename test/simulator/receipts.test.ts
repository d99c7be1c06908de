/**
 * The simulator's sales slips (GET /receipt/{tid}?sig=): what a slip shows, that it shows no secret,
 * that nobody opens another payment's slip by guessing, and that the URL is the public address.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { ManualClock } from '../../src/lib/clock.js';
import { createTpaySimulator, tpaySimulatorPlugin, TPAY_TEST_ACCOUNTS } from '../../src/simulators/jtnet/app.js';
import { receiptSignature } from '../../src/simulators/jtnet/receipts.js';
import { testCardNumber } from '../../src/simulators/jtnet/test-cards.js';

const KEYIN = TPAY_TEST_ACCOUNTS[1]!; // tpaytest1m
const OTHER = TPAY_TEST_ACCOUNTS[2]!; // tpaytest2m
const auth = (a = KEYIN) => ({ mid: a.mid, api_key: a.merchantKey });
const PAN = testCardNumber({ kftcCode: '366', lastFour: '4242' });

let app: FastifyInstance;
let clock: ManualClock;
let seq = 0;
const moid = () => `imp_${String(++seq).padStart(12, '0')}`;

async function call(op: string, fields: Record<string, string>, a: FastifyInstance = app, prefix = '') {
  const res = await a.inject({ method: 'POST', url: `${prefix}/api/v1/${op}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });
  return res.json() as Record<string, any>;
}

const keyIn = (fields: Record<string, string> = {}, a: FastifyInstance = app, prefix = '') =>
  call('payments', { ...auth(), card_num: PAN, card_exp: '3012', card_pwd: '12', buyer_auth_num: '900101', amt: '60000', moid: moid(), goods_nm: '겨울 코트', card_quota: '03', ...fields }, a, prefix);

const refund = (tid: string, amount: number, partial: boolean) => call('refunds', { ...auth(), tid, cancel_pw: '123456', cancel_amt: String(amount), cancel_msg: '환불', partial_cancel: partial ? '1' : '0' });

async function open(url: string) {
  const u = new URL(url);
  const res = await app.inject({ method: 'GET', url: u.pathname + u.search });
  return { status: res.statusCode, html: res.body, headers: res.headers };
}

beforeEach(() => {
  clock = new ManualClock(Date.UTC(2026, 0, 15, 3, 0, 0)); // 2026-01-15 12:00:00 KST
  app = createTpaySimulator({ clock });
});
afterEach(() => app.close());

describe('a card slip', () => {
  it('shows merchant, approval number, amount with its VAT split, masked card, installments, KST date and status', async () => {
    const paid = await keyIn();
    expect(paid.result_cd).toBe('0000');
    const s = await open(paid.receipt_url);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/html/);
    for (const text of ['신용카드 매출전표', 'tPay test (key-in)', 'tpaytest1m', paid.tid, paid.moid, paid.app_no, '겨울 코트', '신한', '936600******4242', '3개월', '2026-01-15 12:00:00', '승인', '54,545원', '5,455원', '60,000원']) {
      expect(s.html, text).toContain(text);
    }
    expect(s.html).toContain('@media print'); // printable: the print button and colours go on paper
    expect(s.html).toContain('name="viewport" content="width=device-width, initial-scale=1"');
  });

  it('lists each cancel with the balance left, and each cancel has its own slip', async () => {
    const paid = await keyIn();
    clock.advance(3_600_000);
    const c1 = await refund(paid.tid, 10000, true);
    clock.advance(60_000);
    const c2 = await refund(paid.tid, 50000, false);
    expect([c1.result_cd, c2.result_cd]).toEqual(['2001', '2001']);
    expect(new Set([paid.receipt_url, c1.receipt_url, c2.receipt_url]).size).toBe(3);

    const original = await open(paid.receipt_url);
    expect(original.html).toContain('전체취소');
    expect(original.html).toContain('2026-01-15 13:00:00');
    expect(original.html).toContain('10,000원');
    expect(original.html).toContain('50,000원');

    const first = await open(c1.receipt_url);
    expect(first.status).toBe(200);
    for (const text of ['신용카드 매출전표 (취소)', c1.tid, paid.tid, '부분취소', '-10,000원', '-9,091원', '-909원', '50,000원', '2026-01-15 13:00:00']) {
      expect(first.html, text).toContain(text);
    }
    const last = await open(c2.receipt_url);
    expect(last.html).toContain('전체취소');
    expect(last.html).toMatch(/취소 후 잔액<\/dt><dd[^>]*>0원/);
  });

  it('shows no secret: no merchant key, cancel password, full card number, birth date or card password', async () => {
    const paid = await keyIn({ card_pwd: '47', buyer_auth_num: '851231' });
    const c = await refund(paid.tid, 1000, true);
    for (const url of [paid.receipt_url, c.receipt_url]) {
      const s = await open(url);
      expect(s.status).toBe(200);
      for (const secret of [KEYIN.merchantKey, PAN, '851231', 'cancel_pw', 'api_key']) expect(s.html).not.toContain(secret);
      expect(s.headers['cache-control']).toBe('no-store');
      expect(s.headers['referrer-policy']).toBe('no-referrer');
      expect(s.headers['content-security-policy']).toContain("default-src 'none'");
    }
    expect(paid.receipt_url).not.toContain(KEYIN.merchantKey);
    expect(paid.receipt_url).not.toContain(encodeURIComponent(KEYIN.merchantKey));
  });
});

describe('who can open a slip', () => {
  it('nobody opens a slip by guessing: a missing, forged, other-tid or other-merchant signature is a bare 404', async () => {
    const paid = await keyIn();
    const other = await keyIn();
    const path = `/receipt/${paid.tid}`;
    const attempts = [
      path,
      `${path}?sig=`,
      `${path}?sig=AAAAAAAAAAAAAAAAAAAAAA`,
      `${path}?sig=${receiptSignature(KEYIN.merchantKey, other.tid)}`, // a real signature, of another payment
      `${path}?sig=${receiptSignature(OTHER.merchantKey, paid.tid)}`, // signed with another merchant's key
      `${path}?sig=${receiptSignature(KEYIN.merchantKey, paid.tid)}x`,
      `${path}?sig[]=x`,
    ];
    for (const url of attempts) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain(paid.app_no);
      expect(res.body).not.toContain('60,000');
    }
  });

  it('a declined attempt has no slip, even with a valid signature; an unknown tid neither', async () => {
    const declined = await keyIn({ amt: '5951', card_quota: '00' });
    expect(declined.result_cd).not.toBe('0000');
    expect(declined).not.toHaveProperty('receipt_url');
    const forDeclined = await app.inject({ method: 'GET', url: `/receipt/${declined.tid}?sig=${receiptSignature(KEYIN.merchantKey, declined.tid)}` });
    expect(forDeclined.statusCode).toBe(404);
    const unknown = 'tpaytest1m2601151200009999';
    expect((await app.inject({ method: 'GET', url: `/receipt/${unknown}?sig=${receiptSignature(KEYIN.merchantKey, unknown)}` })).statusCode).toBe(404);
  });

  it('trans_search gives the slip of each approved row and of each cancel, and none for a decline', async () => {
    const paid = await keyIn();
    const c = await refund(paid.tid, 2000, true);
    const found = await call('trans_search', { ...auth(), moid: paid.moid, sch_sdate: '20260115', sch_edate: '20260115' });
    expect(found.list_arr).toHaveLength(1);
    expect(found.list_arr[0]).toMatchObject({ tid: paid.tid, state_cd: '2', receipt_url: paid.receipt_url });
    expect(found.list_arr[0].cancel_list).toEqual([expect.objectContaining({ tid: c.tid, receipt_url: c.receipt_url })]);
    const declined = await keyIn({ amt: '5951', card_quota: '00' });
    const none = await call('trans_search', { ...auth(), moid: declined.moid });
    expect(none.list_arr[0]).toMatchObject({ state_cd: '9', receipt_url: '' });
  });
});

describe('the slip address', () => {
  it('is the configured public URL when one is set (the simulator behind a proxy or in a container)', async () => {
    const pub = createTpaySimulator({ clock, publicUrl: 'https://pg.example.test/tpay/' });
    try {
      const paid = await keyIn({}, pub);
      expect(paid.receipt_url).toBe(`https://pg.example.test/tpay/receipt/${paid.tid}?sig=${receiptSignature(KEYIN.merchantKey, paid.tid)}`);
    } finally {
      await pub.close();
    }
  });

  it('keeps the mount prefix when the simulator runs inside another app', async () => {
    const host = Fastify();
    await host.register(tpaySimulatorPlugin, { prefix: '/__sim/tpay', clock });
    try {
      const paid = await keyIn({}, host, '/__sim/tpay');
      const u = new URL(paid.receipt_url);
      expect(u.pathname).toBe(`/__sim/tpay/receipt/${paid.tid}`);
      const res = await host.inject({ method: 'GET', url: u.pathname + u.search });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain(paid.app_no);
    } finally {
      await host.close();
    }
  });
});
