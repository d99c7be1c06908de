/**
 * The NICEPAY connector over real HTTP against the NICE simulator: the shared connector scenarios
 * (scenarios.ts, the same table JTNET passes) with NICE's cards and codes, then what only NICE has:
 * signatures on answers, Basic auth, net-cancel, a fresh orderId per cancel.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNicepayConnector, nicepayModule } from '../../src/connectors/nicepay/index.js';
import type { ChannelCredentials, Connector } from '../../src/connectors/types.js';
import type { CardInput } from '../../src/lib/card.js';
import { ManualClock } from '../../src/lib/clock.js';
import { Secret } from '../../src/lib/secret.js';
import { createNicepaySimulator, testCardNumber, type NicepaySimulator } from '../../src/simulators/nicepay/index.js';
import { ISSUER_REASONS, TEST_DECLINE_CODES } from '../../src/simulators/shared/test-cards.js';
import { closedPort, expectConnectorError, scenarios, type ExpectedDecline, type ScenarioHarness } from './scenarios.js';

const clock = new ManualClock(Date.UTC(2026, 0, 15, 3, 0, 0)); // 12:00 KST
/**
 * The `timeout` card's scenario inquires once the simulator has recorded the charge (`pgHasOrder`).
 * With 300 ms and no such wait it failed once under the full suite (inquiry found nothing): the
 * likeliest cause is a connector that gave up before the simulator read the request, whose
 * inquiry was then handled first. The wider window keeps such a give-up rare as well.
 */
const READ_TIMEOUT_MS = 1500;

const cardFor = (lastFour: string, extra: Partial<CardInput> = {}): CardInput => ({
  number: testCardNumber({ kftcCode: '366', lastFour }),
  expiryYear: 2030,
  expiryMonth: 12,
  birth: '900101',
  pwd2digit: '12',
  ...extra,
});
/** a card the issuer refuses at registration: no payment exists, so no tid */
const refusedAtRegist = (nn: string): ExpectedDecline => ({ reason: `issuer ${nn} at regist`, code: 'F118', message: `사용할 수 없는 카드입니다(${ISSUER_REASONS[nn]})`, pgTid: null });
const refusedCharge = (nn: string): ExpectedDecline => ({ reason: `issuer ${nn}`, code: '3095', message: `카드사 거절(${ISSUER_REASONS[nn]})` });

let sim: NicepaySimulator;
let simUrl: string;
let connector: Connector & { close(): Promise<void> };
let unreachable: Connector & { close(): Promise<void> };
let seq = 0;
const newMoid = () => `imp_${String(Date.now() % 1e6).padStart(6, '0')}${String(++seq).padStart(6, '0')}`;

/** a fresh NICE key pair: the simulator enrols it on first use, as NICE issues one per merchant */
const newChannel = (): ChannelCredentials => ({
  mid: `S2_${String(++seq).padStart(32, '0')}`,
  merchantKey: new Secret(`${String(seq).padStart(16, '0')}${'abcdef0123456789'}`),
  cancelPassword: new Secret(''),
  sandbox: true,
});
const channel = newChannel();

async function control(path: string, body: unknown) {
  const res = await fetch(`${simUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
}

/** the simulator's own record of a payment (its `/__ledger`) */
async function ledgerPayment(tid: string) {
  const l = (await (await fetch(`${simUrl}/__ledger?clientId=${channel.mid}`)).json()) as { payments: any[] };
  return l.payments.find((p) => p.tid === tid) ?? null;
}

const harness = (): ScenarioHarness => ({
  connector,
  channel,
  wrongCancelPassword: null,
  unreachable,
  nowMs: () => clock.now(),
  newMoid,
  cards: {
    approve: cardFor('4242'),
    approveDetails: { cardCode: '366', cardName: '신한카드', cardNumberMasked: '936600******4242', cardType: 0 },
    // regist reports neither card type nor number; Pier masks the number it sent
    issuedDetails: { cardCode: '366', cardName: '신한카드', cardNumberMasked: '936600******4242', cardType: null },
    // registers fine, the charge's answer is held past the read timeout (processed)
    timeout: cardFor('1098'),
    systemError: { ...cardFor('0099'), expect: { reason: 'system error', code: '9999', message: '일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.', pgTid: null } },
    declines: [
      ...TEST_DECLINE_CODES.map((nn) => ({ ...cardFor(`00${nn}`), expect: refusedAtRegist(nn) })),
      {
        ...cardFor('4242', { number: testCardNumber({ kftcCode: '366', lastFour: '4242' }).slice(0, 15) + '0' }),
        expect: { reason: 'Luhn failure', code: 'F112', message: '유효하지않은 카드번호를 입력하셨습니다.', stage: 'authentication', pgTid: null },
      },
      { ...cardFor('4242', { expiryYear: 2025, expiryMonth: 12 }), expect: { reason: 'expired', code: '3021', message: '유효기간 오류', stage: 'authentication', pgTid: null } },
      { ...cardFor('4242', { birth: '999999' }), expect: { reason: 'birth 999999', code: 'F113', message: '본인인증에 실패하였습니다.', stage: 'authentication', pgTid: null } },
      { ...cardFor('4242', { pwd2digit: '99' }), expect: { reason: 'password 99', code: 'F113', message: '본인인증에 실패하였습니다.', stage: 'authentication', pgTid: null } },
      {
        number: testCardNumber({ prefix: '411111', lastFour: '3051' }),
        expiryYear: 2030,
        expiryMonth: 12,
        expect: { reason: 'overseas Visa', code: '3051', message: '해외카드 거래불가', pgTid: null },
      },
    ],
    laterDeclines: TEST_DECLINE_CODES.map((nn) => ({ ...cardFor(`10${nn}`), expect: refusedCharge(nn) })),
  },
  amountDeclines: [
    { via: 'keyIn', amount: 99, cardQuota: 0, expect: { reason: 'below minimum', code: '3041', message: '금액 오류(1000원 미만 신용카드 승인 불가)' } },
    { via: 'keyIn', amount: 10000, cardQuota: 2, expect: { reason: 'installment < 50,000', code: '3024', message: '할부 최소금액 오류(50000미만)' } },
    { via: 'keyIn', amount: 60000, cardQuota: 1, expect: { reason: 'quota 1', code: '3022', message: '할부개월오류 (01개월 할부는 불가능합니다)' } },
    { via: 'billingKey', amount: 10954, cardQuota: 0, expect: refusedCharge('54') },
    { via: 'billingKey', amount: 20926, cardQuota: 0, expect: refusedCharge('26') },
  ],
  declinedAttempt: 'not_found',
  cancelSlipShows: 'cancelled',
  codes: { overRefund: 'U123', wrongCancelPassword: null, alreadyRefunded: '2013', deletedBillingKey: 'U115' },
  async pgRecord(pgTid) {
    const p = await ledgerPayment(pgTid);
    if (!p) return null;
    const status = p.status === 'partialCancelled' ? 'paid' : p.status;
    return { status, amount: p.amount, cancelledAmount: p.amount - p.balanceAmt };
  },
  async pgHasOrder(moid) {
    const l = (await (await fetch(`${simUrl}/__ledger?clientId=${channel.mid}&orderId=${encodeURIComponent(moid)}`)).json()) as { payments: unknown[] };
    return l.payments.length > 0;
  },
  faults: {
    // the key-in charge is the billing payment after regist
    http500: () => control('/__control/faults', { op: 'billing_pay', kind: '5xx', when: 'before', clientId: channel.mid }),
    badBody: () => control('/__control/faults', { op: 'billing_pay', kind: 'garbage', when: 'after', clientId: channel.mid }),
  },
});

beforeAll(async () => {
  sim = createNicepaySimulator({ clock, slowResponseMs: 10_000 });
  simUrl = await sim.listen({ host: '127.0.0.1', port: 0 });
  const options = { ...nicepayModule.defaults, sandboxUrl: simUrl, connectTimeoutMs: 1000, readTimeoutMs: READ_TIMEOUT_MS, clock };
  connector = createNicepayConnector(options);
  unreachable = createNicepayConnector({ ...options, sandboxUrl: `http://127.0.0.1:${await closedPort()}` });
});

afterAll(async () => {
  await fetch(`${simUrl}/__control/holds/release`, { method: 'POST' }).catch(() => undefined);
  await connector?.close();
  await unreachable?.close();
  await sim?.close();
});

describe('NICEPAY connector against the NICE simulator: the shared connector scenarios (real HTTP)', () => {
  const h = harness();
  for (const s of scenarios.filter((x) => !x.appliesTo || x.appliesTo(h))) {
    it(s.name, () => s.run(harness()));
  }
});

/**
 * A man in the middle between Pier and NICE: forwards every call to the simulator and lets the
 * test rewrite NICE's JSON answers on the way back.
 */
async function tamperingProxy(rewrite: (answer: Record<string, unknown>) => Record<string, unknown>): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const upstream = await fetch(`${simUrl}${req.url}`, {
      method: req.method,
      headers: { authorization: String(req.headers.authorization ?? ''), 'content-type': 'application/json' },
      body: req.method === 'GET' ? undefined : Buffer.concat(chunks),
    });
    const answer = (await upstream.json()) as Record<string, unknown>;
    res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(JSON.stringify(rewrite(answer)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const order = (amount: number) => ({ moid: newMoid(), amount, goodsName: '정기결제', cardQuota: 0, buyer: { name: '홍길동' } });

describe('NICEPAY connector: what only NICE has (real HTTP)', () => {
  it('an answer whose signature does not verify is refused and in doubt; the signed lookup then tells what happened', async () => {
    const key = await connector.issueBillingKey(channel, cardFor('4242'), {});
    if (key.outcome !== 'issued') throw new Error('no key');
    // the attacker lowers the amount Pier sees (the signature no longer matches), or signs with a guessed key
    for (const forge of [
      (a: Record<string, unknown>) => (a.amount === 15000 ? { ...a, amount: 1500 } : a),
      (a: Record<string, unknown>) => ({ ...a, signature: 'a'.repeat(64) }),
    ]) {
      const proxy = await tamperingProxy(forge);
      try {
        const req = order(15000);
        const err = await expectConnectorError(connector.chargeBillingKey({ ...channel, baseUrl: proxy.url }, key.billingKey, req), 'bad_response', true);
        expect(err.message).toMatch(/signature|1500/);
        expect(await connector.inquire(channel, { moid: req.moid, aroundMs: clock.now() })).toMatchObject({ found: true, state: 'paid', amount: 15000 });
      } finally {
        await proxy.close();
      }
    }
  });

  it('a lookup answer with a changed amount is not believed', async () => {
    const paid = await connector.chargeKeyIn(channel, cardFor('4242'), order(8000));
    if (paid.outcome !== 'approved') throw new Error('not approved');
    // NICE signs tid, amount and ediDate (spec §10): those are what Pier can hold an answer to
    const proxy = await tamperingProxy((a) => ({ ...a, amount: 1 }));
    try {
      const err = await expectConnectorError(connector.inquire({ ...channel, baseUrl: proxy.url }, { moid: 'x', pgTid: paid.pgTid, aroundMs: clock.now() }), 'bad_response', false);
      expect(err.message).toMatch(/signature/);
    } finally {
      await proxy.close();
    }
  });

  it('a wrong secret key gets HTTP 401 from NICE: a technical failure before anything moved, not a decline', async () => {
    const wrong: ChannelCredentials = { ...channel, merchantKey: new Secret('ffffffffffffffffffffffffffffffff') };
    const err = await expectConnectorError(connector.chargeKeyIn(wrong, cardFor('4242'), order(1000)), 'http_status', false);
    expect(err.message).toMatch(/HTTP 401 \[U104\]/);
    expect(err.message).not.toContain('ffffffff');
    await expectConnectorError(connector.issueBillingKey(wrong, cardFor('4242'), {}), 'http_status', false);
  });

  it('each refund gets its own cancel orderId; re-sending the same refund cannot refund twice', async () => {
    const req = order(9000);
    const paid = await connector.chargeKeyIn(channel, cardFor('4242'), req);
    if (paid.outcome !== 'approved') throw new Error('not approved');
    const first = await connector.refund(channel, { pgTid: paid.pgTid, moid: req.moid, refundId: 'R1', amount: 2000, partial: true, reason: '부분' });
    expect(first).toMatchObject({ outcome: 'refunded', amount: 2000 });
    // NICE refuses the same cancel orderId (U112): that refund was made; a resend is in doubt (looked
    // up), never a refusal that would give the amount back to the merchant (decision 0041)
    await expect(connector.refund(channel, { pgTid: paid.pgTid, moid: req.moid, refundId: 'R1', amount: 2000, partial: true, reason: '부분' })).rejects.toMatchObject({
      inDoubt: true,
      message: expect.stringContaining('[U112]'),
    });
    const second = await connector.refund(channel, { pgTid: paid.pgTid, moid: req.moid, refundId: 'R2', amount: 7000, partial: false, reason: '나머지' });
    expect(second).toMatchObject({ outcome: 'refunded', amount: 7000 });
    const p = await ledgerPayment(paid.pgTid);
    expect(p.cancels.map((c: { orderId: string; amount: number }) => [c.orderId, c.amount])).toEqual([
      [`${req.moid}-cR1`, 2000],
      [`${req.moid}-cR2`, 7000],
    ]);
    expect({ status: p.status, balanceAmt: p.balanceAmt }).toEqual({ status: 'cancelled', balanceAmt: 0 });
  });

  it('net-cancel before giving up: reverses an approval NICE holds, does nothing for an order NICE never saw', async () => {
    const req = order(6000);
    const paid = await connector.chargeKeyIn(channel, cardFor('4242'), req);
    if (paid.outcome !== 'approved') throw new Error('not approved');
    expect(await connector.voidUnknownAttempt!(channel, { moid: req.moid })).toEqual({ voided: expect.objectContaining({ found: true, state: 'cancelled', pgTid: paid.pgTid, amount: 6000, cancelledAmount: 6000 }) });
    expect(await ledgerPayment(paid.pgTid)).toMatchObject({ status: 'cancelled', balanceAmt: 0 });
    expect(await connector.inquire(channel, { moid: req.moid, aroundMs: clock.now() })).toMatchObject({ found: true, state: 'cancelled', cancelledAmount: 6000 });
    expect(await connector.voidUnknownAttempt!(channel, { moid: newMoid() })).toBe('nothing');
  });

  it('the key-in throw-away billing key is expired after the charge', async () => {
    const req = order(5000);
    const paid = await connector.chargeKeyIn(channel, cardFor('4242'), req);
    expect(paid.outcome).toBe('approved');
    const l = (await (await fetch(`${simUrl}/__ledger?clientId=${channel.mid}`)).json()) as { billingKeys: { orderId: string; expiredAt: number | null }[] };
    const key = l.billingKeys.find((k) => k.orderId === `${req.moid}-regist`);
    expect(key?.expiredAt).toBe(clock.now());
  });

  // NICE's field limits are bytes and an over-long field is refused (U105), not cut (decision 0133):
  // a Korean goods name or refund reason within V1's length but over NICE's bytes must still pay and refund
  it('a Korean goods name, buyer name and refund reason over NICE\'s byte limits still charge and refund', async () => {
    const key = await connector.issueBillingKey(channel, cardFor('4242'), { name: '김수한무거북이와두루미삼천갑자동방삭' });
    expect(key.outcome).toBe('issued');
    if (key.outcome !== 'issued') return;
    const req = { ...order(6000), goodsName: '프리미엄 유기농 제철 과일 정기배송 (3개월 약정)', buyer: { name: '김수한무거북이와두루미삼천갑자동방삭' } };
    expect(Buffer.byteLength(req.goodsName, 'utf8')).toBeGreaterThan(40);
    expect(req.goodsName.length).toBeLessThanOrEqual(40);
    const paid = await connector.chargeBillingKey(channel, key.billingKey, req);
    expect(paid.outcome).toBe('approved');
    if (paid.outcome !== 'approved') return;
    const stored = await ledgerPayment(paid.pgTid);
    expect(stored.goodsName).toBe('프리미엄 유기농 제철 과일 정');
    expect(stored.buyerName).toBe('김수한무거북이와두루');
    const reason = '고객님의 요청으로 정기배송 상품의 남은 회차를 모두 취소하고 결제하신 금액 전액을 환불해 드립니다';
    expect(Buffer.byteLength(reason, 'utf8')).toBeGreaterThan(100);
    const refunded = await connector.refund(channel, { pgTid: paid.pgTid, moid: req.moid, amount: 6000, partial: false, reason });
    expect(refunded).toMatchObject({ outcome: 'refunded', amount: 6000 });
    expect((await ledgerPayment(paid.pgTid)).status).toBe('cancelled');
  });

  it("the simulator refuses, as NICE does, a field over its byte limit with U105 (not cut)", async () => {
    const auth = `Basic ${Buffer.from(`${channel.mid}:${channel.merchantKey.reveal()}`).toString('base64')}`;
    const res = await fetch(`${simUrl}/v1/subscribe/BIKYnone/payments`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json;charset=utf-8' },
      // 14 Hangul syllables: 14 characters, 42 UTF-8 bytes
      body: JSON.stringify({ orderId: newMoid(), amount: 1000, goodsName: '가나다라마바사아자차카타파하', cardQuota: 0, useShopInterest: false }),
    });
    const answer = (await res.json()) as { resultCode: string; resultMsg: string };
    expect(answer.resultCode).toBe('U105');
    expect(answer.resultMsg).toContain('max:40, realLength:42');
  });

  it('a channel base URL wins over the configured host; a live channel goes to the live host', async () => {
    const live = createNicepayConnector({ ...nicepayModule.defaults, liveUrl: simUrl, sandboxUrl: `http://127.0.0.1:${await closedPort()}`, connectTimeoutMs: 1000, readTimeoutMs: READ_TIMEOUT_MS, clock });
    try {
      expect(await live.inquire({ ...channel, sandbox: false }, { moid: newMoid(), aroundMs: clock.now() })).toEqual({ found: false });
      await expectConnectorError(live.inquire(channel, { moid: newMoid(), aroundMs: clock.now() }), 'connect', false);
      expect(await live.inquire({ ...channel, baseUrl: simUrl }, { moid: newMoid(), aroundMs: clock.now() })).toEqual({ found: false });
    } finally {
      await live.close();
    }
  });
});
