import { afterAll, beforeAll, describe, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createJtnetConnector, type JtnetConnector } from '../../src/connectors/jtnet/index.js';
import type { ChannelCredentials } from '../../src/connectors/types.js';
import type { CardInput } from '../../src/lib/card.js';
import { ManualClock } from '../../src/lib/clock.js';
import { Secret } from '../../src/lib/secret.js';
import { createTpaySimulator, TPAY_TEST_ACCOUNTS } from '../../src/simulators/jtnet/app.js';
import { ISSUER_REASONS, TEST_DECLINE_CODES, testCardNumber } from '../../src/simulators/jtnet/test-cards.js';
import { closedPort, scenarios, type ExpectedDecline, type ScenarioHarness } from './scenarios.js';

const ACCOUNT = TPAY_TEST_ACCOUNTS[1]!; // tpaytest1m, the key-in MID
const clock = new ManualClock(Date.UTC(2026, 0, 15, 3, 0, 0)); // 12:00 KST

const cardFor = (lastFour: string, extra: Partial<CardInput> = {}): CardInput => ({
  number: testCardNumber({ kftcCode: '366', lastFour }),
  expiryYear: 2030,
  expiryMonth: 12,
  birth: '900101',
  pwd2digit: '12',
  ...extra,
});
/** issuer reasons that say the card data is wrong: tPay refuses those at authentication */
const AUTHENTICATION_REASONS = ['04', '14', '19', '23', '48', '51', '52'];
const issuer = (nn: string): ExpectedDecline => ({
  reason: `issuer ${nn}`,
  code: nn,
  message: ISSUER_REASONS[nn]!,
  stage: AUTHENTICATION_REASONS.includes(nn) ? 'authentication' : 'approval',
});

let sim: FastifyInstance;
let connector: JtnetConnector;
let unreachable: JtnetConnector;
let baseUrl: string;
let seq = 0;

async function control(path: string, body: unknown) {
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`${path}: HTTP ${res.status}`);
}

const channel: ChannelCredentials = {
  mid: ACCOUNT.mid,
  merchantKey: new Secret(ACCOUNT.merchantKey),
  cancelPassword: new Secret('123456'),
};

const harness = (): ScenarioHarness => ({
  connector,
  channel,
  wrongCancelPassword: { ...channel, cancelPassword: new Secret('000000') },
  unreachable,
  nowMs: () => clock.now(),
  newMoid: () => `imp_${String(Date.now() % 1e6).padStart(6, '0')}${String(++seq).padStart(6, '0')}`,
  cards: {
    approve: cardFor('4242'),
    approveDetails: { cardCode: '366', cardName: '신한카드', cardNumberMasked: '936600******4242', cardType: 0 },
    timeout: cardFor('0098'),
    systemError: { ...cardFor('0099'), expect: { reason: 'system error', code: '9999', message: '시스템 오류 (카드사 실패 응답)' } },
    declines: [
      ...TEST_DECLINE_CODES.map((nn) => ({ ...cardFor(`00${nn}`), expect: issuer(nn) })),
      {
        ...cardFor('4242', { number: testCardNumber({ kftcCode: '366', lastFour: '4242' }).slice(0, 15) + '0' }),
        expect: { reason: 'Luhn failure', code: '14', message: '유효하지않은 카드번호를 입력하셨습니다.', stage: 'authentication' },
      },
      { ...cardFor('4242', { expiryYear: 2025, expiryMonth: 12 }), expect: { reason: 'expired', code: '04', message: '유효기간 만료(기간오류)', stage: 'authentication' } },
      { ...cardFor('4242', { birth: '999999' }), expect: { reason: 'birth 999999', code: '51', message: '주민(사업자)번호/생년월일 상이', stage: 'authentication' } },
      { ...cardFor('4242', { pwd2digit: '99' }), expect: { reason: 'password 99', code: '19', message: '비밀번호 상이', stage: 'authentication' } },
      {
        // the simulator's overseas trigger: any number ending in 3051
        number: testCardNumber({ prefix: '411111', lastFour: '3051' }),
        expiryYear: 2030,
        expiryMonth: 12,
        expect: { reason: 'overseas Visa', code: '3051', message: '해외카드 거래불가' },
      },
    ],
    laterDeclines: TEST_DECLINE_CODES.map((nn) => ({ ...cardFor(`10${nn}`), expect: issuer(nn) })),
  },
  amountDeclines: [
    { via: 'keyIn', amount: 99, cardQuota: 0, expect: { reason: 'below minimum', code: '13', message: '금액 오류' } },
    { via: 'keyIn', amount: 10000, cardQuota: 2, expect: { reason: 'installment < 50,000', code: '06', message: '할부금액오류 또는 5만원 미만 할부불가' } },
    { via: 'keyIn', amount: 60000, cardQuota: 1, expect: { reason: 'quota 1', code: '3022', message: '할부개월오류 (01개월 할부는 불가능합니다)' } },
    { via: 'billingKey', amount: 10954, cardQuota: 0, expect: { reason: 'amount …954', code: '54', message: '잔액부족' } },
    { via: 'billingKey', amount: 20926, cardQuota: 0, expect: { reason: 'amount …926', code: '26', message: '도난, 분실카드' } },
  ],
  codes: { overRefund: '2032', wrongCancelPassword: '2024', alreadyRefunded: '2013', deletedBillingKey: 'A126' },
  async pgRecord(pgTid) {
    const res = await fetch(`${baseUrl}/__ledger?mid=${channel.mid}`);
    const l = (await res.json()) as { approvals: any[]; declines: any[] };
    const t = [...l.approvals, ...l.declines].find((x) => x.tid === pgTid);
    return t ? { status: t.status, amount: t.amount, cancelledAmount: t.cancelledAmount } : null;
  },
  async pgHasOrder(moid) {
    const l = (await (await fetch(`${baseUrl}/__ledger?mid=${channel.mid}`)).json()) as { approvals: any[]; declines: any[] };
    return [...l.approvals, ...l.declines].some((x) => x.moid === moid);
  },
  faults: {
    http500: () => control('/__control/faults', { mode: 'http_500', mid: channel.mid }),
    badBody: () => control('/__control/faults', { mode: 'bad_json', mid: channel.mid }),
    reset: () => control('/__control/faults', { mode: 'reset', mid: channel.mid }),
  },
});

beforeAll(async () => {
  sim = createTpaySimulator({ clock, slowResponseMs: 30_000 });
  const address = await sim.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = address;
  // as in nicepay.test.ts: the `timeout` card's scenario needs tPay to have processed the charge
  // before the connector gives up, so the read timeout leaves room for a loaded machine
  connector = createJtnetConnector({ baseUrl, connectTimeoutMs: 1000, readTimeoutMs: 1500, clock });
  unreachable = createJtnetConnector({ baseUrl: `http://127.0.0.1:${await closedPort()}`, connectTimeoutMs: 1000, readTimeoutMs: 1500, clock });
});

afterAll(async () => {
  await connector?.close();
  await unreachable?.close();
  await sim?.close();
});

describe('JTNET connector against the tPay simulator (real HTTP)', () => {
  for (const s of scenarios) {
    it(s.name, () => s.run(harness()));
  }
});
