import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { startTestPier, type TestPier, type TestMerchant } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let other: TestMerchant;

const PREPARE_NOT_FOUND = { code: -1, message: '사전등록된 결제정보가 존재하지 않습니다.', response: null };

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  other = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('POST /payments/prepare', () => {
  it('registers an amount and echoes it, currency null when not given', async () => {
    const res = await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_1', amount: 12000 } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ code: 0, message: null, response: { merchant_uid: 'pre_1', amount: 12000, currency: null } });
    const got = await pier.call('GET', '/payments/prepare/pre_1', { token: m.token });
    expect(got.body).toEqual({ code: 0, message: null, response: { merchant_uid: 'pre_1', amount: 12000, currency: null } });
  });

  it('keeps the currency when given, and accepts a form body', async () => {
    const json = await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_krw', amount: 500, currency: 'KRW' } });
    expect(json.body.response).toEqual({ merchant_uid: 'pre_krw', amount: 500, currency: 'KRW' });
    const form = await pier.call('POST', '/payments/prepare/', { token: m.token, form: 'merchant_uid=pre_form&amount=3000' });
    expect(form.body).toEqual({ code: 0, message: null, response: { merchant_uid: 'pre_form', amount: 3000, currency: null } });
    expect((await pier.call('GET', '/payments/prepare/pre_form', { token: m.token })).body.response.amount).toBe(3000);
  });

  it('refuses a second POST for the same merchant_uid (HTTP 200, code 1) and keeps the first amount', async () => {
    await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_dup', amount: 1000 } });
    const dup = await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_dup', amount: 2000 } });
    expect(dup.status).toBe(200);
    expect(dup.body.code).toBe(1);
    expect(dup.body.response).toBeNull();
    expect(dup.body.message).toContain('PUT /payments/prepare');
    expect((await pier.call('GET', '/payments/prepare/pre_dup', { token: m.token })).body.response.amount).toBe(1000);
  });

  it('lets two merchants register the same merchant_uid, each seeing only its own', async () => {
    await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_shared', amount: 100 } });
    expect((await pier.call('GET', '/payments/prepare/pre_shared', { token: other.token })).body).toEqual(PREPARE_NOT_FOUND);
    const theirs = await pier.call('POST', '/payments/prepare', { token: other.token, body: { merchant_uid: 'pre_shared', amount: 200 } });
    expect(theirs.body.code).toBe(0);
    expect((await pier.call('GET', '/payments/prepare/pre_shared', { token: m.token })).body.response.amount).toBe(100);
    expect((await pier.call('GET', '/payments/prepare/pre_shared', { token: other.token })).body.response.amount).toBe(200);
  });

  it('validates the amount and merchant_uid, naming the field, and registers nothing', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ merchant_uid: 'pre_bad_1', amount: 0 }, 'amount'],
      [{ merchant_uid: 'pre_bad_2', amount: -100 }, 'amount'],
      [{ merchant_uid: 'pre_bad_3', amount: 10.5 }, 'amount'],
      [{ merchant_uid: 'pre_bad_4', amount: '1000.5' }, 'amount'],
      [{ merchant_uid: 'pre_bad_5', amount: 100_000_000_001 }, 'amount'],
      [{ merchant_uid: 'pre_bad_6' }, 'amount'],
      [{ amount: 1000 }, 'merchant_uid'],
      [{ merchant_uid: 'x'.repeat(41), amount: 1000 }, 'merchant_uid'],
      [{ merchant_uid: '', amount: 1000 }, 'merchant_uid'],
      [{ merchant_uid: 'pre_bad_7', amount: 1000, currency: 'USD' }, 'currency'],
    ];
    for (const [body, field] of cases) {
      const res = await pier.call('POST', '/payments/prepare', { token: m.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe(1);
      expect(res.body.response).toBeNull();
      expect(res.body.message).toContain(field);
    }
    const form = await pier.call('POST', '/payments/prepare', { token: m.token, form: 'merchant_uid=pre_bad_8&amount=abc' });
    expect(form.status).toBe(400);
    expect(form.body.message).toContain('amount');
    const rows = await pier.store.db.selectFrom('payment_prepares').select('merchant_uid').where('merchant_uid', 'like', 'pre_bad%').execute();
    expect(rows).toEqual([]);
  });

  it('requires a token', async () => {
    expect((await pier.call('POST', '/payments/prepare', { body: { merchant_uid: 'pre_anon', amount: 1000 } })).status).toBe(401);
    expect((await pier.call('GET', '/payments/prepare/pre_1')).status).toBe(401);
  });
});

describe('PUT /payments/prepare and GET /payments/prepare/{merchant_uid}', () => {
  it('changes a registered amount', async () => {
    await pier.call('POST', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_put', amount: 1000 } });
    const res = await pier.call('PUT', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_put', amount: 1500, currency: 'KRW' } });
    expect(res.body).toEqual({ code: 0, message: null, response: { merchant_uid: 'pre_put', amount: 1500, currency: 'KRW' } });
    expect((await pier.call('GET', '/payments/prepare/pre_put', { token: m.token })).body.response).toEqual({ merchant_uid: 'pre_put', amount: 1500, currency: 'KRW' });
    const form = await pier.call('PUT', '/payments/prepare', { token: m.token, form: 'merchant_uid=pre_put&amount=1700' });
    expect(form.body.response).toEqual({ merchant_uid: 'pre_put', amount: 1700, currency: null });
  });

  it('answers 404 for PUT on an unregistered merchant_uid, and registers nothing', async () => {
    const res = await pier.call('PUT', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_never', amount: 1000 } });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(PREPARE_NOT_FOUND);
    expect((await pier.call('GET', '/payments/prepare/pre_never', { token: m.token })).status).toBe(404);
  });

  it("answers 404 for PUT on another merchant's registration, which keeps its amount", async () => {
    await pier.call('POST', '/payments/prepare', { token: other.token, body: { merchant_uid: 'pre_theirs', amount: 800 } });
    const res = await pier.call('PUT', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_theirs', amount: 1 } });
    expect(res.status).toBe(404);
    expect((await pier.call('GET', '/payments/prepare/pre_theirs', { token: other.token })).body.response.amount).toBe(800);
  });

  it('validates the PUT amount', async () => {
    const res = await pier.call('PUT', '/payments/prepare', { token: m.token, body: { merchant_uid: 'pre_put', amount: 0 } });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('amount');
    expect((await pier.call('GET', '/payments/prepare/pre_put', { token: m.token })).body.response.amount).toBe(1700);
  });

  it('answers 404 `사전등록된 결제정보가 존재하지 않습니다.` for an unknown merchant_uid', async () => {
    const res = await pier.call('GET', '/payments/prepare/nobody_1654780079485', { token: m.token });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(PREPARE_NOT_FOUND);
  });
});

describe('GET /cards and /banks', () => {
  it('lists the card codes, with their names', async () => {
    const res = await pier.call('GET', '/cards', { token: m.token });
    expect(res.status).toBe(200);
    expect(res.body.code).toBe(0);
    expect(res.body.message).toBeNull();
    const list = res.body.response as Array<{ code: string; name: string }>;
    expect(list).toContainEqual({ code: '366', name: '신한카드' });
    expect(list).toContainEqual({ code: '381', name: 'KB국민카드' });
    expect(list).toContainEqual({ code: '361', name: 'BC카드' });
    for (const c of list) expect(Object.keys(c).sort()).toEqual(['code', 'name']);
    expect(new Set(list.map((c) => c.code)).size).toBe(list.length);
  });

  it('answers one card code, and 404 for an unknown one', async () => {
    expect((await pier.call('GET', '/cards/366', { token: m.token })).body).toEqual({ code: 0, message: null, response: { code: '366', name: '신한카드' } });
    const unknown = await pier.call('GET', '/cards/999', { token: m.token });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: -1, response: null });
    expect(unknown.body.message).toContain('999');
  });

  it('lists the bank codes and answers one, 404 for an unknown one', async () => {
    const list = (await pier.call('GET', '/banks', { token: m.token })).body.response;
    expect(list).toContainEqual({ code: '088', name: '신한은행' });
    expect(list).toContainEqual({ code: '004', name: 'KB국민은행' });
    expect((await pier.call('GET', '/banks/088', { token: m.token })).body).toEqual({ code: 0, message: null, response: { code: '088', name: '신한은행' } });
    const unknown = await pier.call('GET', '/banks/999', { token: m.token });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: -1, response: null });
  });

  it('requires a token', async () => {
    for (const url of ['/cards', '/cards/366', '/banks', '/banks/088']) {
      const res = await pier.call('GET', url);
      expect(res.status, url).toBe(401);
      expect(res.body).toMatchObject({ code: -1, response: null });
    }
  });
});

describe('GET /users/pg', () => {
  it("lists the merchant's channels, without their secrets", async () => {
    const res = await pier.call('GET', '/users/pg', { token: m.token });
    expect(res.status).toBe(200);
    expect(res.body.code).toBe(0);
    const list = [...res.body.response].sort((a: { pg_id: string }, b: { pg_id: string }) => a.pg_id.localeCompare(b.pg_id));
    expect(list).toEqual([
      { pg_provider: 'jtnet', pg_id: 'tpaytest0m', sandbox: true, type: 'payment', channel_name: JTNET_TEST_MIDS[0].name, channel_key: expect.stringMatching(/^ch_/), is_default: true },
      { pg_provider: 'jtnet', pg_id: 'tpaytest1m', sandbox: true, type: 'api_payment', channel_name: JTNET_TEST_MIDS[1].name, channel_key: expect.stringMatching(/^ch_/), is_default: true },
      { pg_provider: 'jtnet', pg_id: 'tpaytest2m', sandbox: true, type: 'api_payment', channel_name: JTNET_TEST_MIDS[2].name, channel_key: expect.stringMatching(/^ch_/), is_default: false },
    ]);
    const text = JSON.stringify(res.body);
    for (const t of JTNET_TEST_MIDS) {
      expect(text).not.toContain(t.merchantKey);
      expect(text).not.toContain(t.merchantKey.slice(0, 16));
    }
    expect(text).not.toMatch(/merchant_key|cancel_password|secret|sealed/i);
  });

  it("shows each merchant its own channels only, and requires a token", async () => {
    const mine = (await pier.call('GET', '/users/pg', { token: m.token })).body.response.map((c: { channel_key: string }) => c.channel_key);
    const theirs = (await pier.call('GET', '/users/pg', { token: other.token })).body.response.map((c: { channel_key: string }) => c.channel_key);
    expect(theirs).toHaveLength(3);
    expect(mine.filter((k: string) => theirs.includes(k))).toEqual([]);
    expect((await pier.call('GET', '/users/pg')).status).toBe(401);
  });
});

describe('POST /vbanks', () => {
  const vbank = (extra: Record<string, unknown> = {}) => ({
    merchant_uid: 'vb_1',
    amount: 10000,
    vbank_code: '088',
    vbank_due: Math.floor(pier.clock.now() / 1000) + 86400,
    vbank_holder: '홍길동',
    name: '가상계좌',
    ...extra,
  });

  it('refuses for the JTNET channel like V1 refuses a channel without a vbank contract (HTTP 200, code 1)', async () => {
    for (const body of [vbank(), vbank({ pg: 'jtnet' }), vbank({ pg: 'jtnet.tpaytest2m' })]) {
      const res = await pier.call('POST', '/vbanks', { token: m.token, body });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(1);
      expect(res.body.response).toBeNull();
      expect(res.body.message).toMatch(/^jtnet\(tpaytest\dm\)는 가상계좌 발급 API를 지원하지 않습니다\. PG사와 별도 계약이 필요합니다\.$/);
    }
    const rows = await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', 'vb_1').execute();
    expect(rows).toEqual([]);
  });

  it('validates the body before anything else, and requires a token', async () => {
    const bad = await pier.call('POST', '/vbanks', { token: m.token, body: vbank({ vbank_code: '8' }) });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('vbank_code');
    const missing = await pier.call('POST', '/vbanks', { token: m.token, body: { merchant_uid: 'vb_2', amount: 1000, vbank_code: '088' } });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain('vbank_due');
    expect((await pier.call('POST', '/vbanks', { body: vbank() })).status).toBe(401);
  });
});
