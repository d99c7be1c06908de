import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { authenticate, call, expectedSignature, KEY, orderId, startReceiver, startSim, until, type Sim } from './nicepay-harness.js';

let s: Sim;
beforeEach(async () => {
  s = await startSim();
});
afterEach(async () => {
  await s.close();
});

const control = (path: string, body: unknown) =>
  fetch(`${s.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json() }));
const ledger = (orderId: string) => fetch(`${s.base}/__ledger?orderId=${encodeURIComponent(orderId)}`).then((r) => r.json());

async function approved(params: Record<string, string> = {}, input: Record<string, string> = {}) {
  const a = await authenticate(s.base, params, input);
  const r = await call(s.base, 'POST', `/v1/payments/${a.fields.tid}`, { amount: Number(a.fields.amount) });
  return { ...a, approve: r };
}

describe('NICEPAY simulator: webhooks (spec §6)', () => {
  it('POSTs the signed payment object on approve and cancel; a failing receiver is retried every minute, 10 attempts in all', async () => {
    let failUntil = 3;
    const receiver = await startReceiver((n) => (n <= failUntil ? { status: 500, body: 'no' } : { status: 200, body: 'OK' }));
    try {
      await control('/__control/webhook', { clientId: KEY.clientId, url: `${receiver.url}/hook` });
      const a = await approved();
      // first attempt at once (fails: 500)
      await until(() => receiver.received.length === 1);
      await s.sim.nicepay.webhooks.idle();
      const first = JSON.parse(receiver.received[0]!.body);
      expect(receiver.received[0]!.contentType).toBe('application/json;charset=utf-8');
      expect(first).toMatchObject({ resultCode: '0000', status: 'paid', tid: a.fields.tid, amount: 1004, cancelledTid: null });
      expect(first.signature).toBe(expectedSignature(first.tid, 1004, first.ediDate));

      // nothing is due before a minute has passed
      expect((await control('/__control/webhooks/retry', {})).body).toEqual({ attempted: 0, delivered: 0 });
      s.clock.advance(60_000);
      expect((await control('/__control/webhooks/retry', {})).body).toEqual({ attempted: 1, delivered: 0 });
      s.clock.advance(60_000);
      expect((await control('/__control/webhooks/retry', {})).body).toEqual({ attempted: 1, delivered: 0 });
      s.clock.advance(60_000);
      expect((await control('/__control/webhooks/retry', {})).body).toEqual({ attempted: 1, delivered: 1 });
      // retries carry the same body (same ediDate and signature)
      expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
      const hooks = (await ledger(a.params.orderId)).webhooks;
      expect(hooks).toHaveLength(1);
      expect(hooks[0]).toMatchObject({ attempts: 4, status: 'paid', gaveUpAt: null });
      expect(hooks[0].deliveredAt).toBe(s.clock.now());

      // cancel event, then a receiver that never answers OK: given up after 10 attempts
      failUntil = Number.POSITIVE_INFINITY;
      const c = await call(s.base, 'POST', `/v1/payments/${a.fields.tid}/cancel`, { reason: 'r', orderId: orderId('c') });
      expect(c.body.status).toBe('cancelled');
      await until(() => receiver.received.length === 5);
      await s.sim.nicepay.webhooks.idle();
      const cancelEvent = JSON.parse(receiver.received[4]!.body);
      expect(cancelEvent).toMatchObject({ status: 'cancelled', cancelledTid: c.body.cancelledTid, amount: 1004, balanceAmt: 0 });
      for (let i = 0; i < 12; i++) {
        s.clock.advance(60_000);
        await control('/__control/webhooks/retry', {});
      }
      expect(receiver.received).toHaveLength(4 + 10);
      const cancelHook = (await ledger(a.params.orderId)).webhooks[1];
      expect(cancelHook).toMatchObject({ attempts: 10, deliveredAt: null, lastError: 'HTTP 500' });
      expect(cancelHook.gaveUpAt).toBe(s.clock.now() - 3 * 60_000);
    } finally {
      await receiver.close();
    }
  });

  it('counts a 200 whose body is not OK as a failure, and sends nothing for declines', async () => {
    const receiver = await startReceiver(() => ({ status: 200, body: '{"ok":true}' }));
    try {
      await control('/__control/webhook', { clientId: KEY.clientId, url: receiver.url });
      const declined = await approved({}, { cardNo: '9366000000040054' });
      expect(declined.approve.body.status).toBe('failed');
      const a = await approved();
      await until(async () => (await ledger(a.params.orderId)).webhooks[0]?.lastError);
      expect((await ledger(a.params.orderId)).webhooks[0].lastError).toBe('answer is not OK');
      expect(receiver.received).toHaveLength(1);
      expect((await ledger(declined.params.orderId)).webhooks).toHaveLength(0);
    } finally {
      await receiver.close();
    }
  });
});

describe('NICEPAY simulator: virtual accounts', () => {
  it('approve answers ready with the vbank; a deposit makes it paid and fires the webhook', async () => {
    const receiver = await startReceiver();
    try {
      await control('/__control/webhook', { clientId: KEY.clientId, url: receiver.url });
      const a = await approved({ method: 'vbank', vbankHolder: '피어상점', vbankValidHours: '24', amount: '30000' });
      expect(a.fields.authResultCode).toBe('0000');
      expect(a.html).toContain('id="vbankNumber"');
      const r = a.approve.body;
      expect(r).toMatchObject({ resultCode: '0000', status: 'ready', payMethod: 'vbank', amount: 30000, card: null });
      expect(r.vbank).toMatchObject({ vbankCode: '088', vbankName: '신한은행', vbankHolder: '피어상점', vbankExpDate: '2026-01-16T12:00:00.000+0900' });
      expect(r.vbank.vbankNumber).toMatch(/^\d{14}$/);
      expect(r.tid).toMatch(/^UT0000113m0301/);

      const wrong = await control('/__control/vbank/deposit', { tid: r.tid, amount: 29999 });
      expect(wrong.status).toBe(409);
      s.clock.advance(3600_000);
      const dep = await control('/__control/vbank/deposit', { clientId: KEY.clientId, orderId: a.params.orderId, amount: 30000 });
      expect(dep.body).toMatchObject({ status: 'paid', paidAt: '2026-01-15T13:00:00.000+0900' });
      await until(() => receiver.received.length === 2);
      expect(receiver.received.map((x) => JSON.parse(x.body).status)).toEqual(['ready', 'paid']);

      // a deposited vbank refunds only with the refund account
      const noAccount = await call(s.base, 'POST', `/v1/payments/${r.tid}/cancel`, { reason: 'r', orderId: orderId() });
      expect(noAccount.body.resultCode).toBe('U100');
      const refund = await call(s.base, 'POST', `/v1/payments/${r.tid}/cancel`, { reason: 'r', orderId: orderId(), refundAccount: '1234567890', refundBankCode: '004', refundHolder: '홍길동' });
      expect(refund.body.status).toBe('cancelled');
    } finally {
      await receiver.close();
    }
  });
});

describe('NICEPAY simulator: a virtual account without a deadline ([E2], spec §2.3)', () => {
  it('issued while the switch is on for its clientId, it answers vbankExpDate null on approve and every lookup; other clientIds and later accounts keep theirs', async () => {
    expect((await control('/__control/vbank/no-deadline', { clientId: KEY.clientId, on: true })).body).toEqual({ noDeadline: [KEY.clientId] });
    const a = await approved({ method: 'vbank', vbankHolder: '피어상점', vbankValidHours: '24', amount: '30000' });
    expect(a.html).toContain('id="vbankNumber"');
    expect(a.approve.body).toMatchObject({ resultCode: '0000', status: 'ready', vbank: { vbankCode: '088', vbankExpDate: null } });
    expect(a.approve.body.signature).toBe(expectedSignature(a.fields.tid, 30000, a.approve.body.ediDate));
    expect((await call(s.base, 'GET', `/v1/payments/find/${a.params.orderId}`)).body.vbank.vbankExpDate).toBeNull();
    expect((await control('/__control/vbank/no-deadline', { clientId: KEY.clientId, on: false })).body).toEqual({ noDeadline: [] });
    expect((await call(s.base, 'GET', `/v1/payments/${a.fields.tid}`)).body.vbank.vbankExpDate).toBeNull();
    const later = await approved({ method: 'vbank', vbankHolder: '피어상점', vbankValidHours: '24', amount: '30000' });
    expect(later.approve.body.vbank.vbankExpDate).toBe('2026-01-16T12:00:00.000+0900');
    expect((await control('/__control/vbank/no-deadline', { on: 'yes' })).status).toBe(400);
  });
});

describe('NICEPAY simulator: faults', () => {
  it('timeout after processing: the approve is recorded although the client never gets an answer', async () => {
    const a = await authenticate(s.base);
    await control('/__control/faults', { op: 'approve', kind: 'timeout' });
    const abort = new AbortController();
    const pending = call(s.base, 'POST', `/v1/payments/${a.fields.tid}`, { amount: 1004 }, { signal: abort.signal }).catch((e: Error) => e);
    await until(async () => (await (await fetch(`${s.base}/__control/faults`)).json()).held === 1);
    abort.abort();
    expect(await pending).toBeInstanceOf(Error);
    const found = await call(s.base, 'GET', `/v1/payments/find/${a.params.orderId}`);
    expect(found.body).toMatchObject({ resultCode: '0000', status: 'paid', tid: a.fields.tid });
    // and net-cancel finds it
    expect((await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: a.params.orderId })).body.status).toBe('cancelled');
  });

  it('5xx before processing records nothing; 5xx and garbage after processing record the approval', async () => {
    const before = await authenticate(s.base);
    await control('/__control/faults', { op: 'approve', kind: '5xx', when: 'before' });
    const r1 = await call(s.base, 'POST', `/v1/payments/${before.fields.tid}`, { amount: 1004 });
    expect(r1.status).toBe(500);
    expect(r1.body).toBeNull();
    expect((await call(s.base, 'GET', `/v1/payments/${before.fields.tid}`)).status).toBe(404);
    // the tid is still approvable
    expect((await call(s.base, 'POST', `/v1/payments/${before.fields.tid}`, { amount: 1004 })).body.resultCode).toBe('0000');

    const after = await authenticate(s.base);
    await control('/__control/faults', { op: 'approve', kind: 'garbage', when: 'after' });
    const r2 = await call(s.base, 'POST', `/v1/payments/${after.fields.tid}`, { amount: 1004 });
    expect(r2.status).toBe(200);
    expect(r2.body).toBeNull();
    expect((await call(s.base, 'GET', `/v1/payments/${after.fields.tid}`)).body.status).toBe('paid');

    const cancelFault = await control('/__control/faults', { op: 'cancel', kind: '5xx', count: 2 });
    expect(cancelFault.body.faults).toEqual([expect.objectContaining({ op: 'cancel', kind: '5xx', when: 'after', remaining: 2 })]);
    const c = await call(s.base, 'POST', `/v1/payments/${after.fields.tid}/cancel`, { reason: 'r', orderId: orderId() });
    expect(c.status).toBe(500);
    expect((await call(s.base, 'GET', `/v1/payments/${after.fields.tid}`)).body.status).toBe('cancelled');
    expect((await control('/__control/faults', { op: 'nope', kind: '5xx' })).status).toBe(400);
  });

  it('amount endings: 997 → recorded then HTTP 500, 996 → recorded then not JSON, 999 → 9999 with nothing recorded', async () => {
    const a = await authenticate(s.base, { amount: '10997' });
    const r = await call(s.base, 'POST', `/v1/payments/${a.fields.tid}`, { amount: 10997 });
    expect(r.status).toBe(500);
    expect((await call(s.base, 'GET', `/v1/payments/${a.fields.tid}`)).body.status).toBe('paid');

    const b = await authenticate(s.base, { amount: '10996' });
    const r2 = await call(s.base, 'POST', `/v1/payments/${b.fields.tid}`, { amount: 10996 });
    expect(r2.status).toBe(200);
    expect(() => JSON.parse(r2.text)).toThrow();
    expect((await call(s.base, 'GET', `/v1/payments/${b.fields.tid}`)).body.status).toBe('paid');

    const c = await authenticate(s.base, { amount: '10999' });
    const r3 = await call(s.base, 'POST', `/v1/payments/${c.fields.tid}`, { amount: 10999 });
    expect(r3.body.resultCode).toBe('9999');
    expect((await call(s.base, 'GET', `/v1/payments/${c.fields.tid}`)).status).toBe(404);
  });

  it('code after processing: the charge is approved and recorded, and answered with the failure code (NICE after its own DB insert failed)', async () => {
    const a = await authenticate(s.base);
    const set = await control('/__control/faults', { op: 'approve', kind: 'code', resultCode: 'U506', when: 'after' });
    expect(set.body.faults).toEqual([expect.objectContaining({ op: 'approve', kind: 'code', when: 'after', resultCode: 'U506' })]);
    const r = await call(s.base, 'POST', `/v1/payments/${a.fields.tid}`, { amount: 1004 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ resultCode: 'U506', resultMsg: 'DB insert 오류', messageSource: 'nicepay', tid: a.fields.tid, orderId: a.params.orderId });
    expect((await call(s.base, 'GET', `/v1/payments/find/${a.params.orderId}`)).body).toMatchObject({ resultCode: '0000', status: 'paid', tid: a.fields.tid });
  });

  it('code before processing: nothing is done, the call is answered with the code and message asked for', async () => {
    await control('/__control/faults', { op: 'netcancel', kind: 'code', resultCode: '9999', when: 'before' });
    await control('/__control/faults', { op: 'netcancel', kind: 'code', resultCode: 'P035', resultMsg: '망취소 요청 오류', when: 'before' });
    const a = await approved();
    expect(a.approve.body.status).toBe('paid');
    const first = await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: a.params.orderId });
    expect([first.status, first.body]).toEqual([200, { resultCode: '9999', resultMsg: '일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.', messageSource: 'nicepay', orderId: a.params.orderId }]);
    expect((await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: a.params.orderId })).body).toMatchObject({ resultCode: 'P035', resultMsg: '망취소 요청 오류' });
    expect((await call(s.base, 'GET', `/v1/payments/${a.fields.tid}`)).body.status).toBe('paid');
    // the faults are used up: the next net-cancel works
    expect((await call(s.base, 'POST', '/v1/payments/netcancel', { orderId: a.params.orderId })).body).toMatchObject({ resultCode: '0000', status: 'cancelled' });
    // a code fault needs a failure code, and only a code fault takes one
    expect((await control('/__control/faults', { op: 'netcancel', kind: 'code' })).status).toBe(400);
    expect((await control('/__control/faults', { op: 'netcancel', kind: 'code', resultCode: '0000' })).status).toBe(400);
    expect((await control('/__control/faults', { op: 'netcancel', kind: '5xx', resultCode: '9999' })).status).toBe(400);
  });

  it('amount ending 998: recorded, answer held until released', async () => {
    const a = await authenticate(s.base, { amount: '10998' });
    const pending = call(s.base, 'POST', `/v1/payments/${a.fields.tid}`, { amount: 10998 });
    await until(async () => (await (await fetch(`${s.base}/__control/faults`)).json()).held === 1);
    expect((await call(s.base, 'GET', `/v1/payments/${a.fields.tid}`)).body.status).toBe('paid');
    expect((await control('/__control/holds/release', {})).body).toEqual({ released: 1 });
    expect((await pending).body).toMatchObject({ resultCode: '0000', status: 'paid' });
  });
});
