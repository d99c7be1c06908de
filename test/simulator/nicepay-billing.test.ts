import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basic, call, card, encData, EDI_DATE, expectedSignature, KEY, orderId, sha256, startReceiver, startSim, until, type Sim } from './nicepay-harness.js';

let s: Sim;
beforeEach(async () => {
  s = await startSim();
});
afterEach(async () => {
  await s.close();
});

// spec §3.1 test vectors
const VECTOR_SECRET = '2dcc2a0d63bf469490bb19a201be3735';
const VECTOR_PLAIN = 'cardNo=1234567890123456&expYear=25&expMonth=12&idNo=800101&cardPw=12';
const VECTOR = {
  ECB: '7c4b12eb43324290bd0e522900a892343f57e0d176cdadae757132c7f3cd442f023ef5c3ffa254ed04b6d47624d4c7847e8061f3be0d67adf1b463b46a542052cf47a5206bfd23945fc1851d426468f4',
  CBC128: '2127975b6d82c36136ba8197a997a994f6c086ff75a6d35e514c54a1e686545e60b76f11bec706de1082e43dd74ae5c5f0709dc1eca6c3cd20e1c0e9e9b7a85c6505461c91c865d82072e41ba5284bd7',
  A2: '6ecfe97e521bc67c3053d74a9dbdba53033d343fc9e8e38e730964b22ef2e4a59607171b00a9da977141b3f79fffa1e80a16c08bc58666b479f554a966a363414347e62f2621f8df220c7a4a545592d0',
};

const plain = (pan: string, o: { exp?: string; idNo?: string; cardPw?: string } = {}) =>
  `cardNo=${pan}&expYear=${(o.exp ?? '3012').slice(0, 2)}&expMonth=${(o.exp ?? '3012').slice(2)}&idNo=${o.idNo ?? '800101'}&cardPw=${o.cardPw ?? '12'}`;

async function regist(pan: string, o: { exp?: string; idNo?: string; cardPw?: string } = {}) {
  return call(s.base, 'POST', '/v1/subscribe/regist', { encData: encData(plain(pan, o)), encMode: 'A2', orderId: orderId('bk') });
}

describe('NICEPAY simulator: billing key regist (spec §3.1)', () => {
  it('the test encryptor reproduces the published vectors, and the simulator decrypts all three modes', async () => {
    expect(encData(VECTOR_PLAIN, VECTOR_SECRET, 'A2')).toBe(VECTOR.A2);
    expect(encData(VECTOR_PLAIN, VECTOR_SECRET, 'ECB')).toBe(VECTOR.ECB);
    expect(encData(VECTOR_PLAIN, VECTOR_SECRET, 'CBC128')).toBe(VECTOR.CBC128);
    const auth = basic('S2_vectorshop000000000000000000001', VECTOR_SECRET);
    // the vector's card number is not Luhn-valid: F112 proves it decrypted (garbage gives F101)
    for (const [encMode, data] of [['A2', VECTOR.A2], [undefined, VECTOR.ECB], [undefined, VECTOR.CBC128]] as const) {
      const r = await call(s.base, 'POST', '/v1/subscribe/regist', { encData: data, ...(encMode ? { encMode } : {}), orderId: orderId() }, { auth });
      expect(r.body.resultCode).toBe('F112');
    }
    const wrongMode = await call(s.base, 'POST', '/v1/subscribe/regist', { encData: VECTOR.ECB, encMode: 'A2', orderId: orderId() }, { auth });
    expect(wrongMode.body.resultCode).toBe('F101');
  });

  it('issues a bid for a good card; refuses expired cards, identity mismatches and last-four declines', async () => {
    const ok = await regist(card('4242'));
    expect(ok.body).toMatchObject({ resultCode: '0000', cardCode: '06', cardName: '[신한]', status: 'issued' });
    expect(ok.body.bid).toMatch(/^BIKYUT0000113m\d{12}\d{4}$/);
    expect(ok.body.authDate).toMatch(EDI_DATE);
    expect((await regist(card('4242'), { exp: '2512' })).body.resultCode).toBe('3021');
    expect((await regist(card('4242'), { idNo: '999999' })).body.resultCode).toBe('F113');
    expect((await regist(card('4242'), { cardPw: '99' })).body.resultCode).toBe('F113');
    const declined = await regist(card('0051'));
    expect(declined.body).toMatchObject({ resultCode: 'F118', status: 'failed' });
    expect(declined.body.bid).toBeUndefined();
    // the card data never lands in the ledger unmasked
    const ledger = await (await fetch(`${s.base}/__ledger`)).text();
    expect(ledger).not.toContain(card('4242'));
    expect(ledger).toContain('936600******4242');
  });

  it('refuses a reused regist orderId (U112) and a bad signData (A101)', async () => {
    const id = orderId();
    const data = encData(plain(card('4242')));
    expect((await call(s.base, 'POST', '/v1/subscribe/regist', { encData: data, encMode: 'A2', orderId: id })).body.resultCode).toBe('0000');
    expect((await call(s.base, 'POST', '/v1/subscribe/regist', { encData: data, encMode: 'A2', orderId: id })).body.resultCode).toBe('U112');
    const ediDate = '2026-01-15T12:00:00.000+0900';
    const bad = await call(s.base, 'POST', '/v1/subscribe/regist', { encData: data, encMode: 'A2', orderId: orderId(), ediDate, signData: sha256('nope') });
    expect(bad.body.resultCode).toBe('A101');
  });
});

describe('NICEPAY simulator: billing payments and expire (spec §3.2, §3.3)', () => {
  it('charges a bid (signed payment object with bid), declines with 10NN keys, and expires it', async () => {
    const bid = (await regist(card('4242'))).body.bid as string;
    const oid = orderId('charge');
    const ediDate = '2026-01-15T12:00:00.000+0900';
    const pay = await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, {
      orderId: oid, amount: 55000, goodsName: '정기구독', cardQuota: 3, useShopInterest: false, ediDate, signData: sha256(`${oid}${bid}${ediDate}${KEY.secretKey}`),
    });
    expect(pay.body).toMatchObject({ resultCode: '0000', status: 'paid', bid, amount: 55000, channel: null, orderId: oid });
    expect(pay.body.card.cardQuota).toBe(3);
    expect(pay.body.signature).toBe(expectedSignature(pay.body.tid, 55000, pay.body.ediDate));
    expect((await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: oid, amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false })).body.resultCode).toBe('U112');
    expect((await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: orderId(), amount: 1000, goodsName: 'x', cardQuota: 2, useShopInterest: false })).body.resultCode).toBe('3024');

    const badKey = (await regist(card('1054'))).body.bid as string;
    const declinedOrder = orderId('declined');
    const declined = await call(s.base, 'POST', `/v1/subscribe/${badKey}/payments`, { orderId: declinedOrder, amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false });
    expect(declined.body).toMatchObject({ resultCode: '3095', status: 'failed' });
    // a declined charge is found by tid only, and its orderId may be sent again
    expect((await call(s.base, 'GET', `/v1/payments/${declined.body.tid}`)).body.status).toBe('failed');
    expect((await call(s.base, 'GET', `/v1/payments/find/${declinedOrder}`)).status).toBe(404);
    expect((await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: declinedOrder, amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false })).body.resultCode).toBe('0000');

    const exp = await call(s.base, 'POST', `/v1/subscribe/${bid}/expire`, { orderId: orderId('exp') });
    expect(exp.body).toMatchObject({ resultCode: '0000', bid });
    expect((await call(s.base, 'POST', `/v1/subscribe/${bid}/expire`, { orderId: orderId('exp') })).body.resultCode).toBe('U115');
    expect((await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: orderId(), amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false })).body.resultCode).toBe('U115');
    expect((await call(s.base, 'POST', '/v1/subscribe/BIKYnope/payments', { orderId: orderId(), amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false })).body.resultCode).toBe('A124');
  });

  it('keeps the tax-free part of a charge and of each cancel: U321 over the amount, U319 over the tax-free part left', async () => {
    const bid = (await regist(card('4242'))).body.bid as string;
    const charge = (o: Record<string, unknown>) => call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: orderId('tf'), goodsName: '면세', cardQuota: 0, useShopInterest: false, ...o });
    expect((await charge({ amount: 10000, taxFreeAmt: 10001 })).body.resultCode).toBe('U321');
    const paid = await charge({ amount: 10000, taxFreeAmt: 6000 });
    expect(paid.body).toMatchObject({ resultCode: '0000', status: 'paid' });
    const tid = paid.body.tid as string;
    const cancel = (o: Record<string, unknown>) => call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: '환불', orderId: orderId('c'), ...o });
    expect((await cancel({ cancelAmt: 1000, taxFreeAmt: 1001 })).body.resultCode).toBe('U321');
    expect((await cancel({ cancelAmt: 4000, taxFreeAmt: 4000 })).body).toMatchObject({ resultCode: '0000', balanceAmt: 6000 });
    expect((await cancel({ cancelAmt: 3000, taxFreeAmt: 2001 })).body.resultCode).toBe('U319');
    expect((await cancel({ cancelAmt: 3000, taxFreeAmt: 2000 })).body).toMatchObject({ resultCode: '0000', balanceAmt: 3000 });
    // the rest, without cancelAmt, takes the tax-free part left (0)
    expect((await cancel({})).body).toMatchObject({ resultCode: '0000', status: 'cancelled', balanceAmt: 0 });
    const ledger = (await (await fetch(`${s.base}/__ledger?orderId=${paid.body.orderId}`)).json()) as { payments: Array<{ taxFreeAmt: number; cancels: Array<{ amount: number; taxFreeAmt: number }> }> };
    expect(ledger.payments[0]!.taxFreeAmt).toBe(6000);
    expect(ledger.payments[0]!.cancels.map((c) => [c.amount, c.taxFreeAmt])).toEqual([[4000, 4000], [3000, 2000], [3000, 0]]);
  });

  it('charges in one second each get their own tid, and each orderId finds its own payment', async () => {
    // a tid leaves 4 random digits per MID and second (spec §2.8): 400 drawn freely repeat one
    // with probability 1 − e^-8; a repeat overwrote the earlier payment, whose orderId then found nothing
    const bid = (await regist(card('4242'))).body.bid as string;
    const charges: { orderId: string; amount: number; tid: string }[] = [];
    for (let i = 0; i < 400; i++) {
      const oid = orderId('same-second');
      const pay = await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: oid, amount: 1000 + i, goodsName: 'x', cardQuota: 0, useShopInterest: false });
      expect(pay.body.resultCode).toBe('0000');
      charges.push({ orderId: oid, amount: 1000 + i, tid: pay.body.tid });
    }
    expect(new Set(charges.map((c) => c.tid.slice(0, -4))).size).toBe(1);
    expect(new Set(charges.map((c) => c.tid)).size).toBe(400);
    for (const c of charges) {
      const found = await call(s.base, 'GET', `/v1/payments/find/${c.orderId}`);
      expect(found.body).toMatchObject({ resultCode: '0000', tid: c.tid, orderId: c.orderId, amount: c.amount, status: 'paid' });
    }
  });

  it("another shop cannot charge or expire a shop's bid", async () => {
    const bid = (await regist(card('4242'))).body.bid as string;
    const other = basic('S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', '13e969a77a0545799242ccc3915243d3');
    expect((await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: orderId(), amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false }, { auth: other })).body.resultCode).toBe('A124');
    expect((await call(s.base, 'POST', `/v1/subscribe/${bid}/expire`, { orderId: orderId() }, { auth: other })).body.resultCode).toBe('U115');
  });
});

describe('NICEPAY simulator: key-in (spec §3.5)', () => {
  it('charges an ECB encData card, declines by amount trigger, and can be turned off (A128)', async () => {
    const oid = orderId('keyin');
    const r = await call(s.base, 'POST', '/v1/key-in/payments', {
      orderId: oid, amount: 1004, goodsName: '키인', encData: encData(plain(card('4242')), KEY.secretKey, 'ECB'), cardQuota: 0, isInterestFree: false,
    });
    expect(r.body).toMatchObject({ resultCode: '0000', status: 'paid', amount: 1004, orderId: oid });
    expect(r.body.signature).toBe(expectedSignature(r.body.tid, 1004, r.body.ediDate));
    const declined = await call(s.base, 'POST', '/v1/key-in/payments', {
      orderId: orderId(), amount: 10954, goodsName: '키인', encData: encData(plain(card('4242')), KEY.secretKey, 'ECB'), cardQuota: 0, isInterestFree: false,
    });
    expect(declined.body).toMatchObject({ resultCode: '3095', status: 'failed' });
    const garbage = await call(s.base, 'POST', '/v1/key-in/payments', { orderId: orderId(), amount: 1004, goodsName: 'x', encData: 'abcd', cardQuota: 0, isInterestFree: false });
    expect(garbage.body.resultCode).toBe('U340');

    await s.close();
    s = await startSim({ keyIn: false });
    const off = await call(s.base, 'POST', '/v1/key-in/payments', { orderId: orderId(), amount: 1004, goodsName: 'x', encData: encData(plain(card('4242')), KEY.secretKey, 'ECB'), cardQuota: 0, isInterestFree: false });
    expect(off.body.resultCode).toBe('A128');
  });
});

describe('NICEPAY simulator: billing webhooks', () => {
  it('sends the charge with its bid, and nothing for regist or declined charges', async () => {
    const receiver = await startReceiver();
    try {
      await fetch(`${s.base}/__control/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clientId: KEY.clientId, url: receiver.url }) });
      const bid = (await regist(card('4242'))).body.bid as string;
      const badBid = (await regist(card('1054'))).body.bid as string;
      const declined = await call(s.base, 'POST', `/v1/subscribe/${badBid}/payments`, { orderId: orderId(), amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false });
      expect(declined.body.status).toBe('failed');
      const pay = await call(s.base, 'POST', `/v1/subscribe/${bid}/payments`, { orderId: orderId(), amount: 1000, goodsName: 'x', cardQuota: 0, useShopInterest: false });
      await until(() => receiver.received.length === 1);
      await s.sim.nicepay.webhooks.idle();
      const event = JSON.parse(receiver.received[0]!.body);
      expect(event).toMatchObject({ tid: pay.body.tid, bid, status: 'paid', amount: 1000 });
      expect(event.signature).toBe(expectedSignature(pay.body.tid, 1000, event.ediDate));
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});
