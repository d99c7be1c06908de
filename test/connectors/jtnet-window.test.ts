/**
 * The tPay payment window over real HTTP, without a browser: the connector builds the webTxInit
 * form, the test posts it to the simulator as the buyer's browser would, fills the page's form,
 * reads the auto-post form the simulator answers with, and hands its fields to readWindowResult.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJtnetConnector, type JtnetConnector, type JtnetWindow } from '../../src/connectors/jtnet/index.js';
import * as connectorCrypto from '../../src/connectors/jtnet/window-crypto.js';
import { ConnectorError, type ChannelCredentials, type WindowRequest, type WindowResult } from '../../src/connectors/types.js';
import { ManualClock } from '../../src/lib/clock.js';
import { Secret } from '../../src/lib/secret.js';
import { createTpaySimulator, TPAY_TEST_ACCOUNTS } from '../../src/simulators/jtnet/app.js';
import { testCardNumber } from '../../src/simulators/jtnet/test-cards.js';
import * as simCrypto from '../../src/simulators/jtnet/window-crypto.js';

const ACCOUNT = TPAY_TEST_ACCOUNTS[0]!; // tpaytest0m, the window MID
const START = Date.UTC(2026, 0, 15, 3, 0, 0); // 2026-01-15 12:00 KST
const clock = new ManualClock(START);
const channel: ChannelCredentials = { mid: ACCOUNT.mid, merchantKey: new Secret(ACCOUNT.merchantKey), cancelPassword: new Secret('123456') };

let sim: FastifyInstance;
let baseUrl: string;
let connector: JtnetConnector;
let win: JtnetWindow;
let receiver: Server;
let notifyUrl: string;
const notices: Array<Record<string, string>> = [];
let seq = 0;
const newMoid = () => `imp_${String(910_000_000_000 + ++seq)}`;

// ---- a browser without a browser ----

function unescapeHtml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? unescapeHtml(m[1]!) : undefined;
}

/** The action and the hidden fields of the form with this id. */
function parseForm(html: string, id: string): { action: string; fields: Record<string, string> } {
  const start = html.indexOf(`<form id="${id}"`);
  if (start < 0) throw new Error(`no form #${id} in:\n${html.slice(0, 2000)}`);
  const end = html.indexOf('</form>', start);
  const form = html.slice(start, end);
  const fields: Record<string, string> = {};
  for (const m of form.matchAll(/<input [^>]*>/g)) {
    if (attr(m[0], 'type') !== 'hidden') continue;
    fields[attr(m[0], 'name')!] = attr(m[0], 'value') ?? '';
  }
  return { action: attr(form.slice(0, form.indexOf('>') + 1), 'action')!, fields };
}

/** Option values of a select. */
function options(html: string, id: string): string[] {
  const start = html.indexOf(`<select id="${id}"`);
  if (start < 0) return [];
  const sel = html.slice(start, html.indexOf('</select>', start));
  return [...sel.matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]!);
}

async function postForm(url: string, fields: Record<string, string>): Promise<{ status: number; html: string }> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.statusCode, html: await res.body.text() };
}

function windowRequest(over: Partial<WindowRequest> = {}): WindowRequest {
  return {
    moid: newMoid(),
    amount: 1000,
    goodsName: '창 결제 상품',
    payMethod: 'card',
    buyer: { name: '홍길동', email: 'buyer@example.com', tel: '01012345678' },
    returnUrl: 'https://pier.example/checkout/return',
    cancelUrl: 'https://pier.example/checkout/cancel',
    mobile: false,
    cardQuotas: [],
    billing: false,
    language: 'ko',
    ...over,
  };
}

interface OpenWindow {
  req: WindowRequest;
  html: string;
  submitUrl: string;
  txToken: string;
}

async function open(over: Partial<WindowRequest> = {}): Promise<OpenWindow> {
  const req = windowRequest(over);
  const form = win.startWindow(channel, req);
  const res = await postForm(form.action, form.fields);
  expect(res.status, res.html).toBe(200);
  const page = parseForm(res.html, 'payForm');
  return { req, html: res.html, submitUrl: new URL(page.action, baseUrl).toString(), txToken: page.fields.txToken! };
}

async function submit(w: OpenWindow, fields: Record<string, string>) {
  const res = await postForm(w.submitUrl, { txToken: w.txToken, action: 'pay', ...fields });
  return res;
}

/** Submits and follows the auto-post: returns where it goes and what it carries. */
async function submitToResult(w: OpenWindow, fields: Record<string, string>) {
  const res = await submit(w, fields);
  expect(res.status, res.html).toBe(200);
  const posted = parseForm(res.html, 'tpayResult');
  expect(res.html).toContain("document.getElementById('tpayResult').submit()");
  expect(res.html).toContain('<noscript>');
  return { to: posted.action, posted: posted.fields };
}

async function pay(w: OpenWindow, fields: Record<string, string>): Promise<WindowResult> {
  const { to, posted } = await submitToResult(w, fields);
  expect(to).toBe(w.req.returnUrl);
  return win.readWindowResult(channel, posted, { moid: w.req.moid, amount: w.req.amount });
}

const card = (lastFour: string, kftcCode = '366') => testCardNumber({ kftcCode, lastFour });
const cardFields = (pan: string, over: Record<string, string> = {}) => ({
  cardNo: pan.replace(/(\d{4})(?=\d)/g, '$1 '),
  cardExpiry: '12/30',
  buyerAuthNum: '900101',
  cardPwd: '12',
  cardQuota: '00',
  ...over,
});

async function ledger() {
  const res = await fetch(`${baseUrl}/__ledger?mid=${channel.mid}`);
  return (await res.json()) as { approvals: any[]; declines: any[]; billingKeys: any[] };
}
async function tx(tid: string) {
  const l = await ledger();
  return [...l.approvals, ...l.declines].find((t) => t.tid === tid);
}

async function deposit(body: Record<string, unknown>) {
  const res = await fetch(`${baseUrl}/__control/vbank/deposit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

beforeAll(async () => {
  receiver = createServer(async (req, res) => {
    notices.push(Object.fromEntries(new URLSearchParams(await readBody(req))));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  notifyUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/notify`;
  sim = createTpaySimulator({ clock });
  baseUrl = await sim.listen({ host: '127.0.0.1', port: 0 });
  // the MID's deposit notice URL, as a merchant registers it in tPay's admin (decision 0086)
  const registered = await request(`${baseUrl}/__control/notify-url`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mid: ACCOUNT.mid, url: notifyUrl }) });
  if (registered.statusCode !== 200) throw new Error(`notify-url: ${await registered.body.text()}`);
  connector = createJtnetConnector({ baseUrl, connectTimeoutMs: 1000, readTimeoutMs: 2000, clock });
  win = connector.window!;
});

afterAll(async () => {
  await connector?.close();
  await sim?.close();
  await new Promise<void>((resolve) => receiver?.close(() => resolve()));
});

describe('tPay window crypto', () => {
  // Computed here with node:crypto straight from the published recipe (spec §2.1, the tPay PHP
  // sample): key = raw MD5(ediDate + merchantKey), IV = first 16 characters of merchantKey.
  const ediDate = '20260115120000';
  const plain = `1004${ACCOUNT.mid}toid1234567890`;
  const key = createHash('md5').update(ediDate + ACCOUNT.merchantKey).digest();
  const iv = Buffer.from(ACCOUNT.merchantKey.slice(0, 16), 'ascii');
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  const vector = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');

  it('the independently computed vector is 32 bytes of PKCS#7-padded ciphertext (28 bytes of plaintext)', () => {
    expect(Buffer.from(vector, 'base64')).toHaveLength(32);
  });

  it('both copies (connector and simulator) encrypt to the vector and decrypt it back', () => {
    expect(connectorCrypto.tpayEncrypt(plain, ediDate, ACCOUNT.merchantKey)).toBe(vector);
    expect(simCrypto.tpayEncrypt(plain, ediDate, ACCOUNT.merchantKey)).toBe(vector);
    expect(connectorCrypto.tpayDecrypt(vector, ediDate, ACCOUNT.merchantKey)).toBe(plain);
    expect(simCrypto.tpayDecrypt(vector, ediDate, ACCOUNT.merchantKey)).toBe(plain);
  });

  it('another ediDate or merchant key does not decrypt to the plaintext', () => {
    expect(connectorCrypto.tpayDecrypt(vector, '20260115120001', ACCOUNT.merchantKey)).not.toBe(plain);
    expect(simCrypto.tpayDecrypt(vector, ediDate, TPAY_TEST_ACCOUNTS[1]!.merchantKey)).not.toBe(plain);
  });

  it('both copies compute the same deposit-notice signature', () => {
    const f = { mid: 'm', tid: 't', moid: 'o', amt: '1', depositDate: '20260115120000', depositorName: '홍길동', ediDate };
    expect(connectorCrypto.depositNoticeSignature('k'.repeat(16), f)).toBe(simCrypto.depositNoticeSignature('k'.repeat(16), f));
  });
});

describe('startWindow', () => {
  it('builds the webTxInit form with ediDate from the clock (KST) and a verifiable encryptData', () => {
    const req = windowRequest({ amount: 55000, cardQuotas: [3, 2, 12] });
    const form = win.startWindow(channel, req);
    expect(form.method).toBe('POST');
    expect(form.action).toBe(`${baseUrl}/webTxInit`);
    expect(form.fields).toMatchObject({
      payMethod: 'CARD',
      mid: channel.mid,
      moid: req.moid,
      amt: '55000',
      ediDate: '20260115120000',
      returnUrl: req.returnUrl,
      cancelUrl: req.cancelUrl,
      quotaFixed: '00:02:03:12',
      language: 'KO',
      connType: '0',
    });
    // no notice URL in the form: the browser could rewrite it (decision 0086)
    expect(form.fields.notifyUrl).toBeUndefined();
    expect(simCrypto.tpayDecrypt(form.fields.encryptData!, form.fields.ediDate!, ACCOUNT.merchantKey)).toBe(`55000${channel.mid}${req.moid}`);
  });

  it('maps pay methods, billing, the mobile window, the language and the vbank due date', () => {
    const m = (over: Partial<WindowRequest>) => win.startWindow(channel, windowRequest(over));
    expect(m({ payMethod: 'trans' }).fields.payMethod).toBe('BANK');
    expect(m({ payMethod: 'phone' }).fields.payMethod).toBe('CELLPHONE');
    expect(m({ billing: true }).fields.payMethod).toBe('CDBILLRG');
    const mobile = m({ mobile: true, language: 'en' });
    expect(mobile.action).toBe(`${baseUrl}/mobile/webTxInit`);
    expect(mobile.fields).toMatchObject({ connType: '1', language: 'EN' });
    expect(m({ payMethod: 'vbank', vbankDueMs: Date.UTC(2026, 0, 20, 14, 59, 59) }).fields).toMatchObject({ payMethod: 'VBANK', vbankExpDate: '20260120' });
    expect(m({ payMethod: 'vbank' }).fields.vbankExpDate).toBe('20260116');
    expect(m({ cardCode: '366' }).fields.cardCode).toBe('06');
  });
});

describe('the window page', () => {
  it('refuses a tampered encryptData with an error page', async () => {
    const form = win.startWindow(channel, windowRequest());
    const res = await postForm(form.action, { ...form.fields, amt: '10' });
    expect(res.status).toBe(400);
    expect(res.html).toContain('id="tpay-error"');
    expect(res.html).toContain('A111');
  });

  it('refuses an unknown mid', async () => {
    const form = win.startWindow({ ...channel, mid: 'nosuchmid0' }, windowRequest());
    const res = await postForm(form.action, form.fields);
    expect(res.status).toBe(400);
    expect(res.html).toContain('2152');
  });

  it('renders labelled card fields in Korean, and in English when asked, on PC and mobile', async () => {
    const ko = await open();
    for (const id of ['cardNo', 'cardExpiry', 'buyerAuthNum', 'cardPwd', 'cardQuota']) expect(ko.html).toContain(`<label for="${id}">`);
    expect(ko.html).toContain('<html lang="ko">');
    expect(ko.html).toContain('id="payBtn"');
    expect(ko.html).toContain('id="cancelBtn"');
    expect(ko.html).toContain('결제하기');
    expect(ko.html).toContain('<body class="pc">');
    const en = await open({ language: 'en', mobile: true });
    expect(en.html).toContain('<html lang="en">');
    expect(en.html).toContain('Card number');
    expect(en.html).toContain('<body class="mobile">');
    expect(en.submitUrl).toBe(`${baseUrl}/webTxInit/pay`);
  });

  it('offers installments only from 50,000 KRW, limited to the months requested', async () => {
    expect(options((await open({ amount: 60000, cardQuotas: [2, 3] })).html, 'cardQuota')).toEqual(['00', '02', '03']);
    expect(options((await open({ amount: 60000, cardQuotas: [] })).html, 'cardQuota')).toEqual(['00']);
    const small = await open({ amount: 10000, cardQuotas: [2, 3] });
    expect(options(small.html, 'cardQuota')).toEqual(['00']);
    expect(small.html).toContain('id="quotaHint"');
  });

  it('re-renders the page with an error for a malformed field, and the window stays usable', async () => {
    const w = await open();
    const res = await submit(w, cardFields(card('4242'), { cardExpiry: '13/30' }));
    expect(res.status).toBe(422);
    expect(res.html).toMatch(/id="formError" class="error" role="alert">[^<]+/);
    expect(await pay(w, cardFields(card('4242')))).toMatchObject({ outcome: 'approved' });
  });

  it('gives one result per window: a second submit is refused', async () => {
    const w = await open();
    await pay(w, cardFields(card('4242')));
    const again = await submit(w, cardFields(card('4242')));
    expect(again.status).toBe(409);
  });
});

describe('card payments in the window', () => {
  it('approves, records the approval, and resultConfirm marks it confirmed', async () => {
    const w = await open({ amount: 15000 });
    const r = await pay(w, cardFields(card('4242')));
    expect(r).toEqual({
      outcome: 'approved',
      pgTid: expect.stringMatching(new RegExp(`^${channel.mid}\\d{16}$`)),
      applyNum: expect.stringMatching(/^\d{8}$/),
      paidAt: Math.floor(START / 1000),
      cardQuota: 0,
      receiptUrl: null,
      bankCode: null,
      bankName: null,
      cardCode: '366',
      cardName: '신한카드',
      cardNumberMasked: '936600******4242',
      cardType: 0,
    });
    if (r.outcome !== 'approved') return;
    expect(await tx(r.pgTid)).toMatchObject({ status: 'paid', amount: 15000, method: 'window', payMethod: 'CARD', confirmedAt: null });
    await win.confirmWindowResult(channel, r.pgTid);
    expect(await tx(r.pgTid)).toMatchObject({ confirmedAt: START });
    const found = await connector.inquire(channel, { moid: w.req.moid, pgTid: r.pgTid, aroundMs: START });
    expect(found).toMatchObject({ found: true, state: 'paid', amount: 15000 });
  });

  it('resultConfirm of an unknown tid fails', async () => {
    await expect(win.confirmWindowResult(channel, `${channel.mid}0000000000000000`)).rejects.toBeInstanceOf(ConnectorError);
  });

  it('each decline kind comes back with its code and message, and is recorded', async () => {
    const cases: Array<{ fields: Record<string, string>; amount?: number; code: string; message: string }> = [
      { fields: cardFields(card('0054')), code: '54', message: '잔액부족' },
      { fields: cardFields(card('0026')), code: '26', message: '도난, 분실카드' },
      { fields: cardFields(card('1051')), code: '51', message: '주민(사업자)번호/생년월일 상이' },
      { fields: cardFields(card('4242').slice(0, 15) + '0'), code: '14', message: '유효하지않은 카드번호를 입력하셨습니다.' },
      { fields: cardFields(card('4242'), { cardExpiry: '12/25' }), code: '04', message: '유효기간 만료(기간오류)' },
      { fields: cardFields(card('4242'), { buyerAuthNum: '999999' }), code: '51', message: '주민(사업자)번호/생년월일 상이' },
      { fields: cardFields(card('4242'), { cardPwd: '99' }), code: '19', message: '비밀번호 상이' },
      { fields: cardFields(testCardNumber({ prefix: '411111', lastFour: '3051' })), code: '3051', message: '해외카드 거래불가' },
      { fields: cardFields(card('0099')), code: '9999', message: '시스템 오류 (카드사 실패 응답)' },
      { fields: cardFields(card('4242')), amount: 10954, code: '54', message: '잔액부족' },
      { fields: cardFields(card('4242')), amount: 99, code: '13', message: '금액 오류' },
    ];
    for (const c of cases) {
      const w = await open({ amount: c.amount ?? 1000 });
      const r = await pay(w, c.fields);
      expect({ case: c, r }).toEqual({ case: c, r: { outcome: 'declined', code: c.code, message: c.message, pgTid: expect.any(String) } });
      if (r.outcome === 'declined') expect(await tx(r.pgTid!)).toMatchObject({ status: 'failed', method: 'window' });
    }
  });

  it('enforces the installment rules on submit, whatever the page offered', async () => {
    const ok = await open({ amount: 60000, cardQuotas: [2, 3] });
    expect(await pay(ok, cardFields(card('4242'), { cardQuota: '03' }))).toMatchObject({ outcome: 'approved', cardQuota: 3 });
    const small = await open({ amount: 10000, cardQuotas: [2, 3] });
    expect(await pay(small, cardFields(card('4242'), { cardQuota: '03' }))).toMatchObject({ outcome: 'declined', code: '06' });
    const notOffered = await open({ amount: 60000, cardQuotas: [2, 3] });
    expect(await pay(notOffered, cardFields(card('4242'), { cardQuota: '06' }))).toMatchObject({ outcome: 'declined', code: '3022' });
    const one = await open({ amount: 60000, cardQuotas: [2, 3] });
    expect(await pay(one, cardFields(card('4242'), { cardQuota: '01' }))).toMatchObject({ outcome: 'declined', code: '3022' });
  });

  it('issues a billing key (CDBILLRG) that Pier can then charge by REST', async () => {
    const w = await open({ billing: true, amount: 0, mallUserId: 'customer_1' });
    expect(w.html).toContain('id="billingNote"');
    expect(options(w.html, 'cardQuota')).toEqual([]);
    const r = await pay(w, cardFields(card('4242', '381')));
    expect(r).toEqual({
      outcome: 'billing_key_issued',
      billingKey: expect.stringMatching(/^\S{24,}$/),
      cardCode: '381',
      cardName: 'KB국민카드',
      cardNumberMasked: '938100******4242',
      cardType: 0,
    });
    if (r.outcome !== 'billing_key_issued') return;
    const charged = await connector.chargeBillingKey(channel, r.billingKey, { moid: newMoid(), amount: 9900, goodsName: '정기결제', cardQuota: 0, buyer: {} });
    expect(charged).toMatchObject({ outcome: 'approved', cardCode: '381' });
    const declined = await open({ billing: true, amount: 0 });
    expect(await pay(declined, cardFields(card('0054')))).toMatchObject({ outcome: 'declined', code: '54' });
  });

  it('billkey_search confirms a window key with the order it was issued in; unknown and deleted keys are not found', async () => {
    const w = await open({ billing: true, amount: 0, mallUserId: 'customer_2' });
    const r = await pay(w, cardFields(card('4242', '381')));
    if (r.outcome !== 'billing_key_issued') throw new Error(JSON.stringify(r));
    expect(await connector.inquireBillingKey!(channel, r.billingKey)).toEqual({
      found: true,
      billingKey: r.billingKey,
      moid: w.req.moid,
      cardCode: '381',
      cardName: 'KB국민카드',
      cardNumberMasked: '938100******4242',
      cardType: 0,
    });
    expect(await connector.inquireBillingKey!(channel, 'no-such-key-0000000000000000')).toEqual({ found: false });
    await connector.deleteBillingKey(channel, r.billingKey);
    expect(await connector.inquireBillingKey!(channel, r.billingKey)).toEqual({ found: false });
    // a key issued by REST (gen_billkey) has no window order
    const rest = await connector.issueBillingKey(channel, { number: card('4242'), expiryYear: 2030, expiryMonth: 12, birth: '900101', pwd2digit: '12' }, {});
    if (rest.outcome !== 'issued') throw new Error(JSON.stringify(rest));
    expect(await connector.inquireBillingKey!(channel, rest.billingKey)).toMatchObject({ found: true, moid: null });
  });

  it('the buyer cancels: the result goes to cancelUrl as cancelled_by_buyer', async () => {
    const w = await open();
    const res = await postForm(w.submitUrl, { txToken: w.txToken, action: 'cancel' });
    expect(res.status).toBe(200);
    const { action, fields } = parseForm(res.html, 'tpayResult');
    expect(action).toBe(w.req.cancelUrl);
    expect(win.readWindowResult(channel, fields, { moid: w.req.moid, amount: w.req.amount })).toEqual({
      outcome: 'cancelled_by_buyer',
      code: 'U001',
      message: '사용자가 결제를 취소하였습니다',
    });
  });

  it('a tampered or misdirected result is rejected as bad_response, not in doubt', async () => {
    const w = await open({ amount: 20000 });
    const { posted } = await submitToResult(w, cardFields(card('4242')));
    const expectRejected = (p: Record<string, string>, expected: { moid: string; amount: number }) => {
      let err: unknown;
      try {
        win.readWindowResult(channel, p, expected);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConnectorError);
      expect({ kind: (err as ConnectorError).kind, inDoubt: (err as ConnectorError).inDoubt }).toEqual({ kind: 'bad_response', inDoubt: false });
    };
    expectRejected(posted, { moid: w.req.moid, amount: 2000 });
    expectRejected(posted, { moid: newMoid(), amount: 20000 });
    expectRejected({ ...posted, amt: simCrypto.tpayEncrypt('2000', posted.ediDate!, 'forged-key-forged-key') }, { moid: w.req.moid, amount: 20000 });
    expectRejected({ ...posted, ediDate: '20260115120001' }, { moid: w.req.moid, amount: 20000 });
    expectRejected({ ...posted, mid: 'tpaytest1m' }, { moid: w.req.moid, amount: 20000 });
    expect(win.readWindowResult(channel, posted, { moid: w.req.moid, amount: 20000 }).outcome).toBe('approved');
  });
});

describe('bank transfer, virtual account and phone in the window', () => {
  it('approves a transfer from the chosen bank, and declines amounts ending in 954', async () => {
    const w = await open({ payMethod: 'trans', amount: 12000 });
    expect(options(w.html, 'bankCode')).toContain('088');
    const r = await pay(w, { bankCode: '088' });
    expect(r).toMatchObject({ outcome: 'approved', bankCode: '088', bankName: '신한은행', applyNum: null, cardCode: null, paidAt: Math.floor(START / 1000) });
    if (r.outcome === 'approved') expect(await tx(r.pgTid)).toMatchObject({ status: 'paid', payMethod: 'BANK', bankCode: '088' });
    const poor = await open({ payMethod: 'trans', amount: 12954 });
    expect(await pay(poor, { bankCode: '004' })).toEqual({ outcome: 'declined', code: '4004', message: '잔액부족', pgTid: expect.any(String) });
  });

  it('issues a virtual account, refuses a wrong deposit, takes the right one and notifies the notice URL registered for the MID', async () => {
    const w = await open({ payMethod: 'vbank', amount: 33000, vbankDueMs: Date.UTC(2026, 0, 17, 14, 0, 0) });
    expect(options(w.html, 'bankCode')[0]).toBeDefined();
    expect(w.html).toMatch(/<option value="004" selected>/);
    const r = await pay(w, { bankCode: '004' });
    expect(r).toEqual({
      outcome: 'vbank_issued',
      pgTid: expect.any(String),
      vbankCode: '004',
      vbankName: 'KB국민은행',
      vbankNum: expect.stringMatching(/^\d{14}$/),
      vbankHolder: ACCOUNT.name,
      vbankDate: Date.UTC(2026, 0, 17, 14, 59, 59) / 1000, // 2026-01-17 23:59:59 KST
      issuedAt: Math.floor(START / 1000),
    });
    if (r.outcome !== 'vbank_issued') return;
    expect(await tx(r.pgTid)).toMatchObject({ status: 'ready', payMethod: 'VBANK', vbankNum: r.vbankNum });
    // inquiry says "awaiting deposit" (neither paid nor failed), with the account
    expect(await connector.inquire(channel, { moid: w.req.moid, pgTid: r.pgTid, aroundMs: START })).toMatchObject({
      found: true,
      state: 'awaiting_deposit',
      pgTid: r.pgTid,
      amount: 33000,
      vbank: { code: '004', name: 'KB국민은행', num: r.vbankNum, dueAt: r.vbankDate },
    });

    const wrong = await deposit({ tid: r.pgTid, amount: 30000, depositorName: '홍길동' });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toContain('입금액 불일치');
    expect(await tx(r.pgTid)).toMatchObject({ status: 'ready' });

    notices.length = 0;
    const ok = await deposit({ moid: w.req.moid, amount: 33000, depositorName: '홍길동' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ tid: r.pgTid, status: 'paid', notice: { url: notifyUrl, delivered: true, status: 200, body: 'OK' } });
    expect(notices).toHaveLength(1);
    const notice = win.readDepositNotice(channel, notices[0]!);
    expect(notice).toEqual({ moid: w.req.moid, pgTid: r.pgTid, amount: 33000, depositedAt: Math.floor(START / 1000), depositorName: '홍길동' });
    expect(() => win.readDepositNotice(channel, { ...notices[0]!, amt: '1' })).toThrow(ConnectorError);
    expect(() => win.readDepositNotice({ ...channel, mid: 'tpaytest1m' }, notices[0]!)).toThrow(ConnectorError);
    expect(await tx(r.pgTid)).toMatchObject({ status: 'paid', depositorName: '홍길동' });
    expect((await deposit({ tid: r.pgTid, amount: 33000 })).status).toBe(409);
    expect(await connector.inquire(channel, { moid: w.req.moid, pgTid: r.pgTid, aroundMs: START })).toMatchObject({ found: true, state: 'paid', amount: 33000 });

    // refunds of a deposited account need the buyer's refund account
    const noAccount = await connector.refund(channel, { pgTid: r.pgTid, moid: w.req.moid, amount: 33000, partial: false, reason: '환불' });
    expect(noAccount).toMatchObject({ outcome: 'declined', code: '2040', message: expect.stringContaining('환불계좌 정보 필요') });
    const refunded = await connector.refund(channel, {
      pgTid: r.pgTid,
      moid: w.req.moid,
      amount: 3000,
      partial: true,
      reason: '부분 환불',
      refundBank: '088',
      refundAccount: '110-123-456789',
      refundHolder: '홍길동',
    });
    expect(refunded).toMatchObject({ outcome: 'refunded', amount: 3000 });
    const l = await ledger();
    expect(l.approvals.find((t) => t.tid === r.pgTid).cancels[0]).toMatchObject({ refundBankCd: '088', refundAcctMasked: '********6789', refundAcctName: '홍길동' });
  });

  it('refuses a deposit after the due date', async () => {
    const w = await open({ payMethod: 'vbank', amount: 5000 }); // due tomorrow 23:59:59 KST
    const r = await pay(w, {});
    if (r.outcome !== 'vbank_issued') throw new Error(JSON.stringify(r));
    try {
      clock.set(START + 2 * 86_400_000);
      const late = await deposit({ tid: r.pgTid, amount: 5000 });
      expect(late.status).toBe(400);
      expect(late.json.error).toContain('입금기한 경과');
    } finally {
      clock.set(START);
    }
  });

  it('phone: approves with the sandbox code, rejects a wrong code, declines numbers ending in 0000', async () => {
    const w = await open({ payMethod: 'phone', amount: 4000 });
    expect(w.html).toContain('id="otpHint"');
    expect(w.html).toContain('123456');
    const wrong = await submit(w, { carrier: 'KT', phoneNo: '010-1234-5678', otp: '000000' });
    expect(wrong.status).toBe(422);
    expect(wrong.html).toContain('인증번호가 일치하지 않습니다');
    expect(wrong.html).toContain('value="01012345678"');
    const r = await pay(w, { carrier: 'KT', phoneNo: '010-1234-5678', otp: '123456' });
    expect(r).toMatchObject({ outcome: 'approved', bankCode: null, cardCode: null, applyNum: null });
    if (r.outcome !== 'approved') return;
    expect(await tx(r.pgTid)).toMatchObject({ status: 'paid', payMethod: 'CELLPHONE', carrier: 'KT', phoneMasked: '010****5678' });
    const limit = await open({ payMethod: 'phone', amount: 4000 });
    expect(await pay(limit, { carrier: 'SKT', phoneNo: '01099990000', otp: '123456' })).toEqual({
      outcome: 'declined',
      code: 'A005',
      message: '휴대폰 결제 한도초과',
      pgTid: expect.any(String),
    });
    // no partial cancel for phone payments; a full cancel in the same month works
    expect(await connector.refund(channel, { pgTid: r.pgTid, moid: w.req.moid, amount: 1000, partial: true, reason: 'x' })).toMatchObject({
      outcome: 'declined',
      code: '2028',
    });
    expect(await connector.refund(channel, { pgTid: r.pgTid, moid: w.req.moid, amount: 4000, partial: false, reason: 'x' })).toMatchObject({
      outcome: 'refunded',
      amount: 4000,
    });
  });

  it('phone payments cannot be cancelled after the KST month ends', async () => {
    const w = await open({ payMethod: 'phone', amount: 4000 });
    const r = await pay(w, { carrier: 'LGT', phoneNo: '01011112222', otp: '123456' });
    if (r.outcome !== 'approved') throw new Error(JSON.stringify(r));
    try {
      clock.set(Date.UTC(2026, 0, 31, 15, 0, 0)); // 2026-02-01 00:00 KST
      expect(await connector.refund(channel, { pgTid: r.pgTid, moid: w.req.moid, amount: 4000, partial: false, reason: 'x' })).toMatchObject({
        outcome: 'declined',
        code: '2029',
      });
    } finally {
      clock.set(START);
    }
  });

  it('trans_search shows transfer, phone and virtual-account transactions with their pay method and state', async () => {
    const bank = await open({ payMethod: 'trans', amount: 7000 });
    const b = await pay(bank, { bankCode: '020' });
    const vb = await open({ payMethod: 'vbank', amount: 7000 });
    const v = await pay(vb, { bankCode: '088' });
    const search = async (moid: string) => {
      const res = await postForm(`${baseUrl}/api/v1/trans_search`, { mid: channel.mid, api_key: ACCOUNT.merchantKey, moid });
      return JSON.parse(res.html).list_arr[0];
    };
    expect(await search(bank.req.moid)).toMatchObject({ pay_method: 'BANK', state_cd: '0', bank_code: '020', amt: '7000' });
    expect(await search(vb.req.moid)).toMatchObject({ pay_method: 'VBANK', state_cd: '4', bank_code: '088', vbank_num: (v as any).vbankNum });
    expect(b.outcome).toBe('approved');
  });
});

describe('net-cancel of unconfirmed approvals (OUR DESIGN, opt-in)', () => {
  it('cancels an approval without resultConfirm after the configured time, and keeps confirmed ones', async () => {
    const c2 = new ManualClock(START);
    const sim2 = createTpaySimulator({ clock: c2, netCancelUnconfirmedMs: 60_000 });
    const base2 = await sim2.listen({ host: '127.0.0.1', port: 0 });
    const conn2 = createJtnetConnector({ baseUrl: base2, connectTimeoutMs: 1000, readTimeoutMs: 2000, clock: c2 });
    try {
      const run = async () => {
        const req = windowRequest();
        const form = conn2.window!.startWindow(channel, req);
        const page = parseForm((await postForm(form.action, form.fields)).html, 'payForm');
        const res = await postForm(new URL(page.action, base2).toString(), { txToken: page.fields.txToken!, action: 'pay', ...cardFields(card('4242')) });
        const r = conn2.window!.readWindowResult(channel, parseForm(res.html, 'tpayResult').fields, { moid: req.moid, amount: req.amount });
        if (r.outcome !== 'approved') throw new Error(JSON.stringify(r));
        return r.pgTid;
      };
      const confirmed = await run();
      const forgotten = await run();
      await conn2.window!.confirmWindowResult(channel, confirmed);
      c2.advance(61_000);
      const l = (await (await fetch(`${base2}/__ledger?mid=${channel.mid}`)).json()) as { approvals: any[] };
      expect(l.approvals.find((t) => t.tid === confirmed)).toMatchObject({ status: 'paid', cancelledAmount: 0 });
      expect(l.approvals.find((t) => t.tid === forgotten)).toMatchObject({ status: 'cancelled', cancels: [{ reason: expect.stringContaining('망취소') }] });
    } finally {
      await conn2.close();
      await sim2.close();
    }
  });
});
