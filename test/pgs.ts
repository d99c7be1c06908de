/**
 * The PGs the V1 REST suites run on (issue #13: "the existing V1 test suites run on both connectors"),
 * and the few facts that differ between them at the V1 level, in one table. A suite does
 * `describe.each(PGS)('on $pg', (facts) => { ... })` and starts its Pier with `startTestPier({ pg: facts.pg })`:
 * on `nice_v2` every new merchant's default API channel is a NICE sandbox channel on the NICE simulator, so
 * V1 calls without `pg` go to NICE; on `jtnet` they go to the tPay simulator's `tpaytest1m`.
 */
import { expect } from 'vitest';
import { TPAY_TEST_ACCOUNTS } from '../src/simulators/jtnet/app.js';
import { receiptSignature } from '../src/simulators/jtnet/receipts.js';
import type { TestMerchant, TestPg, TestPier } from './harness.js';

type Merchant = TestMerchant & { nice?: { clientId: string; secretKey: string } | null };

/** A payment as the PG's own ledger (its simulator's `/__ledger`) has it, in one shape for both PGs. */
export interface PgLedgerPayment {
  tid: string;
  amount: number;
  cancelledAmount: number;
  /** `paid` (also when partly refunded) or `cancelled` */
  status: string;
  cancels: Array<{ tid: string; amount: number }>;
  /** what each cancel looked like on the PG's wire (see `cancelWire`) */
  cancelWire: string[];
}

export interface PgFacts {
  pg: TestPg;
  /** V1 `pg_id` of the merchant's default API channel */
  pgId(m: Merchant): string;
  /** V1 `pg` selector naming that channel (`jtnet.{MID}`, `nice_v2.{clientId}`) */
  pgSelector(m: Merchant): string;
  /** V1 `pg_tid` of an approval or cancel on that channel */
  pgTid(m: Merchant): RegExp;
  /** a billing key's `card_type`: tPay reports it at issue, NICE's regist does not */
  billingKeyCardType: 0 | null;
  /** `fail_reason` of a charge declined by the 10NN rule with NN = 02 (a key that issued fine) */
  laterDeclineReason: string;
  /**
   * the `[code]reason` of card data the PG refuses at authentication (onetime answers code -1
   * `카드정보 인증에 실패하였습니다. {reason}`): a Luhn-bad number, an expired card, a wrong birth date, a wrong password
   */
  cardAuthReasons: { number: string; expired: string; birth: string; password: string };
  /**
   * a key-in with a card whose issuer answers "wrong password" (last four 0019): tPay reports it as an
   * authentication failure (code -1); NICE's regist refuses it like any issuer refusal (F118), a failed payment
   */
  issuerPasswordRefusal: { code: -1; message: string } | { code: 0; fail_reason: string };
  /** the sales slip the PG serves for a tid */
  slipUrl(pier: TestPier, tid: string): string;
  /** the PG's record of the approval Pier made for this imp_uid (order id = imp_uid on both PGs) */
  ledger(pier: TestPier, m: Merchant, impUid: string): Promise<PgLedgerPayment>;
  /**
   * how the PG saw the three refunds of the partial-refund story (two parts, then the rest): tPay flags
   * partial cancels; NICE needs a fresh orderId per cancel (spec §4), never the payment's own
   */
  expectedCancelWire(impUid: string): unknown[];
  /** make the next key-in charge's answer get lost after the PG records it, and the inquiry fail too */
  loseNextKeyInAnswerAndInquiry(pier: TestPier, m: Merchant): Promise<void>;
  /**
   * the PG does its next `call` at once but holds its answer until releaseHeldAnswers (a slow PG):
   * a billing key issued or deleted, a key-in charge
   */
  holdNextAnswer(pier: TestPier, m: Merchant, call: 'issue_key' | 'delete_key' | 'key_in'): Promise<void>;
  /** how many answers the PG is holding */
  heldAnswers(pier: TestPier): Promise<number>;
  releaseHeldAnswers(pier: TestPier): Promise<void>;
}

const tpay1 = TPAY_TEST_ACCOUNTS[1]!;

async function postJson(url: string, body: unknown, okStatus: number) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, `${url}: ${await res.clone().text()}`).toBe(okStatus);
}

const jtnet: PgFacts = {
  pg: 'jtnet',
  pgId: () => tpay1.mid,
  pgSelector: () => `jtnet.${tpay1.mid}`,
  pgTid: () => new RegExp(`^${tpay1.mid}`),
  billingKeyCardType: 0,
  laterDeclineReason: '[02]1일 사용금액초과',
  cardAuthReasons: { number: '[14]유효하지않은 카드번호를 입력하셨습니다.', expired: '[04]유효기간 만료(기간오류)', birth: '[51]주민(사업자)번호/생년월일 상이', password: '[19]비밀번호 상이' },
  issuerPasswordRefusal: { code: -1, message: '카드정보 인증에 실패하였습니다. [19]비밀번호 상이' },
  slipUrl: (pier, tid) => `${pier.simulatorUrl}/receipt/${tid}?sig=${receiptSignature(tpay1.merchantKey, tid)}`,
  async ledger(pier, _m, impUid) {
    const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger?mid=${tpay1.mid}`)).json()) as {
      approvals: Array<{ moid: string; tid: string; amount: number; cancelledAmount: number; status: string; cancels: Array<{ cancelTid: string; amount: number; partial: boolean }> }>;
    };
    const hits = ledger.approvals.filter((a) => a.moid === impUid);
    expect(hits).toHaveLength(1);
    const a = hits[0]!;
    return {
      tid: a.tid,
      amount: a.amount,
      cancelledAmount: a.cancelledAmount,
      status: a.status,
      cancels: a.cancels.map((c) => ({ tid: c.cancelTid, amount: c.amount })),
      cancelWire: a.cancels.map((c) => (c.partial ? 'partial' : 'full')),
    };
  },
  expectedCancelWire: () => ['partial', 'partial', 'full'],
  async loseNextKeyInAnswerAndInquiry(pier) {
    await postJson(`${pier.simulatorUrl}/__control/faults`, { mode: 'reset', op: 'payments' }, 201);
    await postJson(`${pier.simulatorUrl}/__control/faults`, { mode: 'http_500', op: 'trans_search' }, 201);
  },
  async holdNextAnswer(pier, _m, call) {
    const op = { issue_key: 'gen_billkey', delete_key: 'del_billkey', key_in: 'payments' }[call];
    await postJson(`${pier.simulatorUrl}/__control/faults`, { mode: 'hold', op }, 201);
  },
  async heldAnswers(pier) {
    return ((await (await fetch(`${pier.simulatorUrl}/__control/holds`)).json()) as { held: number }).held;
  },
  async releaseHeldAnswers(pier) {
    await postJson(`${pier.simulatorUrl}/__control/holds/release`, {}, 200);
  },
};

const niceOf = (m: Merchant) => {
  if (!m.nice) throw new Error('this merchant has no NICE channel: start the Pier with { pg: "nice_v2" }');
  return m.nice;
};
const niceSimUrl = (pier: TestPier) => {
  if (!pier.niceSimulatorUrl) throw new Error('no NICE simulator: start the Pier with { pg: "nice_v2" }');
  return pier.niceSimulatorUrl;
};

const nice: PgFacts = {
  pg: 'nice_v2',
  pgId: (m) => niceOf(m).clientId,
  pgSelector: (m) => `nice_v2.${niceOf(m).clientId}`,
  // tid = MID (UT + 7 hex + m for an enrolled clientId) + method 01 (card) + 01 + yyMMddHHmmss + 4 digits
  pgTid: () => /^UT[0-9a-f]{7}m0101\d{16}$/,
  billingKeyCardType: null,
  laterDeclineReason: '[3095]카드사 거절(1일 사용금액초과)',
  // NICE's regist codes (spec §8): one code for any failed identity check
  cardAuthReasons: { number: '[F112]유효하지않은 카드번호를 입력하셨습니다.', expired: '[3021]유효기간 오류', birth: '[F113]본인인증에 실패하였습니다.', password: '[F113]본인인증에 실패하였습니다.' },
  issuerPasswordRefusal: { code: 0, fail_reason: '[F118]사용할 수 없는 카드입니다(비밀번호 상이)' },
  slipUrl: (pier, tid) => `${niceSimUrl(pier)}/issue/IssueLoader.do?type=0&innerWin=Y&TID=${tid}`,
  async ledger(pier, m, impUid) {
    const url = `${niceSimUrl(pier)}/__ledger?clientId=${encodeURIComponent(niceOf(m).clientId)}&orderId=${encodeURIComponent(impUid)}`;
    const ledger = (await (await fetch(url)).json()) as {
      payments: Array<{ orderId: string; tid: string; amount: number; balanceAmt: number; status: string; cancels: Array<{ tid: string; orderId: string; amount: number }> }>;
    };
    const hits = ledger.payments.filter((p) => p.orderId === impUid && p.status !== 'failed');
    expect(hits).toHaveLength(1);
    const p = hits[0]!;
    return {
      tid: p.tid,
      amount: p.amount,
      cancelledAmount: p.amount - p.balanceAmt,
      status: p.status === 'partialCancelled' ? 'paid' : p.status,
      cancels: p.cancels.map((c) => ({ tid: c.tid, amount: c.amount })),
      cancelWire: p.cancels.map((c) => c.orderId),
    };
  },
  expectedCancelWire: (impUid) => {
    const fresh = expect.stringMatching(new RegExp(`^(?!${impUid}$).+`));
    return [fresh, fresh, fresh];
  },
  async loseNextKeyInAnswerAndInquiry(pier, m) {
    const clientId = niceOf(m).clientId;
    // key-in on NICE is regist → billing pay → expire (decision 0014): the pay is processed, its answer is garbage
    await postJson(`${niceSimUrl(pier)}/__control/faults`, { op: 'billing_pay', kind: 'garbage', when: 'after', clientId }, 200);
    for (const op of ['find', 'payment']) await postJson(`${niceSimUrl(pier)}/__control/faults`, { op, kind: '5xx', when: 'before', clientId }, 200);
  },
  async holdNextAnswer(pier, m, call) {
    // key-in on NICE is regist → billing pay → expire (decision 0014): its charge is the billing pay
    const op = { issue_key: 'regist', delete_key: 'expire', key_in: 'billing_pay' }[call];
    await postJson(`${niceSimUrl(pier)}/__control/faults`, { op, kind: 'timeout', when: 'after', clientId: niceOf(m).clientId }, 200);
  },
  async heldAnswers(pier) {
    return ((await (await fetch(`${niceSimUrl(pier)}/__control/faults`)).json()) as { held: number }).held;
  },
  async releaseHeldAnswers(pier) {
    await postJson(`${niceSimUrl(pier)}/__control/holds/release`, {}, 200);
  },
};

export const PGS: readonly PgFacts[] = [jtnet, nice];
export const PG_FACTS: Record<TestPg, PgFacts> = { jtnet, nice_v2: nice };
