import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authenticate, basic, call, card, EDI_DATE, expectedSignature, KEY, orderId, sha256, startSim, type Sim } from './nicepay-harness.js';

let s: Sim;
beforeEach(async () => {
  s = await startSim();
});
afterEach(async () => {
  await s.close();
});

describe('NICEPAY simulator: signatures (spec §10 golden vectors)', () => {
  it('the test verifier reproduces the published vectors', () => {
    expect(sha256('NICEUNTTB06096FF8F653AA366E7EEED1101AAAE' + 'S2_af4543a0be4d49a98122e01ec2059a56' + '1004' + KEY.secretKey)).toBe(
      '99ea68bf15681741e793ece56ab87891b9bdc94cd54abdcb55b2884f4336155a',
    );
    expect(expectedSignature('UT0000113m01012111051714341073', 1004, '2021-11-05T17:14:35.150+0900')).toBe(
      '63b251b31c909eebef1a9f4fcc19e77bdcb8f64fc1066a29670f8627186865cd',
    );
    expect(expectedSignature('nicuntct1m0101210727200125A056', 1004, '2021-07-27T20:01:25.000+0900', '0123456789abcdef0123456789abcdef')).toBe(
      '61ce750d1cda992ae8406f5269d09a3e27e0cb8ec9902da6008c9f02cf37c723',
    );
  });
});

describe('NICEPAY simulator: auth (spec §0.3)', () => {
  it('refuses a missing or wrong secret with 401 U104, and auto-enrols a new pair', async () => {
    const none = await call(s.base, 'GET', '/v1/payments/UT0000113m01012111051714341073', undefined, { auth: null });
    expect(none.status).toBe(401);
    expect(none.body.resultCode).toBe('U104');
    const wrong = await call(s.base, 'GET', '/v1/payments/x', undefined, { auth: basic(KEY.clientId, 'not-the-secret') });
    expect(wrong.status).toBe(401);
    expect(wrong.body.resultCode).toBe('U104');
    // a trailing newline inside the credentials fails like NICE's ([E2])
    const newline = await call(s.base, 'GET', '/v1/payments/x', undefined, {
      auth: `Basic ${Buffer.from(`${KEY.clientId}:${KEY.secretKey}\n`).toString('base64')}`,
    });
    expect(newline.status).toBe(401);

    const fresh = { clientId: 'S2_00000000000000000000000000000001', secretKey: 'abcdefabcdefabcdefabcdefabcdef01' };
    const first = await call(s.base, 'GET', '/v1/payments/none', undefined, { auth: basic(fresh.clientId, fresh.secretKey) });
    expect(first.status).toBe(404); // authenticated (enrolled), no such payment
    expect(first.body.resultCode).toBe('U107');
    const other = await call(s.base, 'GET', '/v1/payments/none', undefined, { auth: basic(fresh.clientId, 'abcdefabcdefabcdefabcdefabcdef02') });
    expect(other.status).toBe(401);
    expect(other.body.resultCode).toBe('U104');
  });

  it('issues a Bearer token (30 min, same token while valid) that authenticates calls', async () => {
    const t1 = await call(s.base, 'POST', '/v1/access-token', {});
    expect(t1.body).toMatchObject({ resultCode: '0000', tokenType: 'Bearer' });
    expect(t1.body.accessToken).toMatch(/^[0-9a-f]{40}$/);
    expect(t1.body.expireAt).toBe('2026-01-15T12:30:00.000+0900');
    s.clock.advance(60_000);
    const t2 = await call(s.base, 'POST', '/v1/access-token', {});
    expect(t2.body.accessToken).toBe(t1.body.accessToken);
    const bearer = `Bearer ${t1.body.accessToken}`;
    expect((await call(s.base, 'GET', '/v1/payments/none', undefined, { auth: bearer })).body.resultCode).toBe('U107');
    s.clock.advance(30 * 60_000);
    expect((await call(s.base, 'GET', '/v1/payments/none', undefined, { auth: bearer })).status).toBe(401);
  });
});

describe('NICEPAY simulator: window authentication + approve (spec §1.4, §1.6)', () => {
  it('posts a verifiable auth result, approves the exact amount, and answers a signed payment object', async () => {
    const a = await authenticate(s.base, { mallReserved: '{key:v1}' });
    const f = a.fields;
    expect(a.action).toBe('http://127.0.0.1:9/return');
    expect(f).toMatchObject({ authResultCode: '0000', authResultMsg: '인증 성공', clientId: KEY.clientId, orderId: a.params.orderId, amount: '1004', mallReserved: '{key:v1}' });
    expect(f.tid).toMatch(/^UT0000113m0101\d{12}\d{4}$/);
    expect(f.authToken).toMatch(/^NICEUNTT[0-9A-F]{32}$/);
    expect(f.signature).toBe(sha256(f.authToken! + KEY.clientId + '1004' + KEY.secretKey));

    // nothing is charged before approve
    expect((await call(s.base, 'GET', `/v1/payments/${f.tid}`)).status).toBe(404);

    const ok = await call(s.base, 'POST', `/v1/payments/${f.tid}`, { amount: 1004 });
    expect(ok.status).toBe(200);
    const p = ok.body;
    expect(p).toMatchObject({ resultCode: '0000', status: 'paid', tid: f.tid, orderId: a.params.orderId, amount: 1004, balanceAmt: 1004, payMethod: 'card', cancelledTid: null, failedAt: '0', cancelledAt: '0', channel: 'pc', mallReserved: '{key:v1}' });
    expect(p.ediDate).toMatch(EDI_DATE);
    expect(p.ediDate).toBe('2026-01-15T12:00:00.000+0900');
    expect(p.signature).toBe(expectedSignature(f.tid!, 1004, p.ediDate));
    expect(p.card).toMatchObject({ cardCode: '06', cardName: '신한', cardNum: '936600******4242', cardQuota: 0, cardType: 'credit', canPartCancel: true });
    expect(p.receiptUrl).toBe(`${s.base}/issue/IssueLoader.do?type=0&innerWin=Y&TID=${f.tid}`);
    const slip = await fetch(p.receiptUrl);
    expect(slip.status).toBe(200);
    expect(await slip.text()).toContain(f.tid);

    // a second approve of the same tid is refused, nothing charged twice
    const again = await call(s.base, 'POST', `/v1/payments/${f.tid}`, { amount: 1004 });
    expect(again.body.resultCode).toBe('U114');
    const ledger = await (await fetch(`${s.base}/__ledger?orderId=${a.params.orderId}`)).json();
    expect(ledger.payments).toHaveLength(1);
  });

  it('refuses an amount other than the authenticated one (A123) and keeps the auth approvable', async () => {
    const { fields } = await authenticate(s.base, { amount: '50000' });
    const tampered = await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: 100 });
    expect(tampered.status).toBe(200);
    expect(tampered.body.resultCode).toBe('A123');
    expect(tampered.body.signature).toBeUndefined();
    const ok = await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: '50000' });
    expect(ok.body).toMatchObject({ resultCode: '0000', amount: 50000 });
  });

  it('refuses an approve after 15 minutes with A245', async () => {
    const { fields } = await authenticate(s.base);
    s.clock.advance(15 * 60_000 + 1);
    const late = await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: 1004 });
    expect(late.body.resultCode).toBe('A245');
    expect((await call(s.base, 'GET', `/v1/payments/${fields.tid}`)).status).toBe(404);
  });

  it('checks signData when sent (A101) and accepts a correct one', async () => {
    const { fields } = await authenticate(s.base);
    const ediDate = '2026-01-15T12:00:00';
    const bad = await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: 1004, ediDate, signData: sha256(`${fields.tid}1005${ediDate}${KEY.secretKey}`) });
    expect(bad.body.resultCode).toBe('A101');
    const good = await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: 1004, ediDate, signData: sha256(`${fields.tid}1004${ediDate}${KEY.secretKey}`) });
    expect(good.body.resultCode).toBe('0000');
  });

  it('answers an unknown tid with 404 U121', async () => {
    const r = await call(s.base, 'POST', '/v1/payments/UT0000113m01012601151200001234', { amount: 1004 });
    expect(r.status).toBe(404);
    expect(r.body.resultCode).toBe('U121');
  });

  it('declines by card last four (3095, status failed, no signature) and by amount below 1,000 (3041)', async () => {
    const declined = await authenticate(s.base, {}, { cardNo: card('0054') });
    const r = await call(s.base, 'POST', `/v1/payments/${declined.fields.tid}`, { amount: 1004 });
    expect(r.body).toMatchObject({ resultCode: '3095', status: 'failed', messageSource: 'external', balanceAmt: 0 });
    expect(r.body.resultMsg).toContain('잔액부족');
    expect(r.body.signature).toBeUndefined();
    expect(r.body.failedAt).toMatch(EDI_DATE);

    const small = await authenticate(s.base, { amount: '999' });
    const r2 = await call(s.base, 'POST', `/v1/payments/${small.fields.tid}`, { amount: 999 });
    expect(r2.body).toMatchObject({ resultCode: '3041', status: 'failed' });

    // a declined order may be paid again with a new authentication
    const retry = await authenticate(s.base, { orderId: declined.params.orderId });
    expect((await call(s.base, 'POST', `/v1/payments/${retry.fields.tid}`, { amount: 1004 })).body.resultCode).toBe('0000');
  });
});

describe('NICEPAY simulator: lookups (spec §5)', () => {
  it('finds a payment by tid and by orderId with fresh signatures; signData in the query is checked', async () => {
    const { fields, params } = await authenticate(s.base);
    await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: 1004 });
    s.clock.advance(1234);
    const byTid = await call(s.base, 'GET', `/v1/payments/${fields.tid}`);
    expect(byTid.body).toMatchObject({ resultCode: '0000', status: 'paid', ediDate: '2026-01-15T12:00:01.234+0900' });
    expect(byTid.body.signature).toBe(expectedSignature(fields.tid!, 1004, byTid.body.ediDate));
    const byOrder = await call(s.base, 'GET', `/v1/payments/find/${encodeURIComponent(params.orderId)}`);
    expect(byOrder.body).toMatchObject({ resultCode: '0000', tid: fields.tid });

    const ediDate = '2026-01-15T12:00:01.234+0900';
    const signed = await call(s.base, 'GET', `/v1/payments/${fields.tid}?ediDate=${encodeURIComponent(ediDate)}&signData=${sha256(`${fields.tid}${ediDate}${KEY.secretKey}`)}`);
    expect(signed.body.resultCode).toBe('0000');
    const badSign = await call(s.base, 'GET', `/v1/payments/${fields.tid}?ediDate=${encodeURIComponent(ediDate)}&signData=${sha256('x')}`);
    expect(badSign.body.resultCode).toBe('U312');
    const findSigned = await call(s.base, 'GET', `/v1/payments/find/${params.orderId}?ediDate=${encodeURIComponent(ediDate)}&signData=${sha256(`${params.orderId}${ediDate}${KEY.secretKey}`)}`);
    expect(findSigned.body.resultCode).toBe('0000');

    const missing = await call(s.base, 'GET', `/v1/payments/find/${orderId('none')}`);
    expect(missing.status).toBe(404);
    expect(missing.body.resultCode).toBe('U107');
  });

  it('does not show one shop another shop\'s payment', async () => {
    const { fields } = await authenticate(s.base);
    await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: 1004 });
    const other = await call(s.base, 'GET', `/v1/payments/${fields.tid}`, undefined, { auth: basic('S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', '13e969a77a0545799242ccc3915243d3') });
    expect(other.status).toBe(404);
  });
});

describe('NICEPAY simulator: cancel (spec §4)', () => {
  async function paid(amount = '10000') {
    const { fields, params } = await authenticate(s.base, { amount });
    const r = await call(s.base, 'POST', `/v1/payments/${fields.tid}`, { amount: Number(amount) });
    expect(r.body.resultCode).toBe('0000');
    return { tid: fields.tid!, orderId: params.orderId };
  }

  it('cancels partially then fully; signature stays over the original amount; cancel orderIds are single-use', async () => {
    const { tid, orderId: paidOrder } = await paid();
    s.clock.advance(1000);
    const part = await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: '부분 환불', orderId: `${paidOrder}-c1`, cancelAmt: 3000 });
    expect(part.body).toMatchObject({ resultCode: '0000', status: 'partialCancelled', amount: 10000, balanceAmt: 7000, orderId: paidOrder });
    expect(part.body.cancelledTid).toMatch(/^UT0000113m0101/);
    expect(part.body.cancelledTid).not.toBe(tid);
    expect(part.body.cancels).toEqual([expect.objectContaining({ tid: part.body.cancelledTid, amount: 3000, reason: '부분 환불', couponAmt: 0 })]);
    expect(part.body.signature).toBe(expectedSignature(tid, 10000, part.body.ediDate));

    const reused = await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: 'x', orderId: `${paidOrder}-c1`, cancelAmt: 1000 });
    expect(reused.body.resultCode).toBe('U112');
    const over = await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: 'x', orderId: `${paidOrder}-c2`, cancelAmt: 7001 });
    expect(over.body.resultCode).toBe('U123');
    const rest = await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: '전체', orderId: `${paidOrder}-c3` });
    expect(rest.body).toMatchObject({ resultCode: '0000', status: 'cancelled', balanceAmt: 0 });
    expect(rest.body.cancels).toHaveLength(2);
    expect(rest.body.cancels[1].amount).toBe(7000);
    const again = await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: '전체', orderId: `${paidOrder}-c4` });
    expect(again.body.resultCode).toBe('2013');
  });

  it('requires reason and orderId, and refuses unknown tids', async () => {
    const { tid } = await paid();
    expect((await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { orderId: 'c' })).body.resultCode).toBe('U100');
    expect((await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: 'r' })).body.resultCode).toBe('U100');
    expect((await call(s.base, 'POST', '/v1/payments/UT0000113m01012601151200009999/cancel', { reason: 'r', orderId: orderId() })).body.resultCode).toBe('U122');
  });

  it('strictSandbox reproduces U128 for any cancelAmt', async () => {
    await s.close();
    s = await startSim({ strictSandbox: true });
    const { tid } = await paid();
    const r = await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: 'r', orderId: orderId(), cancelAmt: 10000 });
    expect(r.body.resultCode).toBe('U128');
    const full = await call(s.base, 'POST', `/v1/payments/${tid}/cancel`, { reason: 'r', orderId: orderId() });
    expect(full.body.status).toBe('cancelled');
  });
});

describe('NICEPAY simulator: net cancel (spec §5.3)', () => {
  it('cancels the order within an hour, is safe to repeat, and answers 2020 after the hour', async () => {
    const a = await authenticate(s.base);
    await call(s.base, 'POST', `/v1/payments/${a.fields.tid}`, { amount: 1004 });
    const r = await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: a.params.orderId });
    expect(r.body).toMatchObject({ resultCode: '0000', status: 'cancelled', tid: a.fields.tid, balanceAmt: 0 });
    const again = await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: a.params.orderId });
    expect(again.body).toMatchObject({ resultCode: '0000', status: 'cancelled' });

    const b = await authenticate(s.base);
    await call(s.base, 'POST', `/v1/payments/${b.fields.tid}`, { amount: 1004 });
    s.clock.advance(60 * 60_000 + 1);
    expect((await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: b.params.orderId })).body.resultCode).toBe('2020');
  });

  it('voids a pending authentication so a late approve cannot charge', async () => {
    const a = await authenticate(s.base);
    const r = await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: a.params.orderId });
    expect(r.status).toBe(404);
    expect(r.body.resultCode).toBe('U107');
    const late = await call(s.base, 'POST', `/v1/payments/${a.fields.tid}`, { amount: 1004 });
    expect(late.body.resultCode).toBe('U504');
  });
});
