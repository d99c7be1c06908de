/**
 * Deterministic test-card rules shared by the tPay simulator (jtnet spec §6.1) and the NICEPAY
 * simulator (docs/simulator-nicepay.md). Pure functions, no I/O. The result codes are NICE's card
 * codes (3011, 3021, 3041, 3095…), which tPay inherited, so both simulators speak them as they are.
 *
 * A rule either lets a request through or produces a `TpayFailure`: the tPay-level
 * `result_cd`/`result_msg` plus, for issuer refusals, the issuer's 2-digit reason in
 * `error_cd`/`error_msg` (named after the window's `errorCd`/`errorMsg`, "대외기관 에러코드").
 */
import { luhnValid } from '../../lib/card.js';
import { kstParts } from '../../lib/clock.js';
import { DOMESTIC_KFTC_CODES } from './card-companies.js';

/** A refusal as tPay would word it. */
export interface TpayFailure {
  resultCd: string;
  resultMsg: string;
  /** issuer reason number (2 digits) when the card company refused */
  errorCd: string | null;
  errorMsg: string | null;
}

/** Issuer reason numbers with the Inicis `1200NN` wording (spec §4.3, ANALOGUE). */
export const ISSUER_REASONS: Readonly<Record<string, string>> = {
  '01': '거래제한(정지)카드',
  '02': '1일 사용금액초과',
  '03': '미등록카드',
  '04': '유효기간 만료(기간오류)',
  '05': '할부개월 오류',
  '06': '할부금액오류 또는 5만원 미만 할부불가',
  '09': 'KEY-IN 불가 가맹점',
  '10': '카드사 TIMEOUT',
  '11': '법인카드 할부불가',
  '13': '금액 오류',
  '14': '카드번호 오류',
  '15': '카드사용횟수 초과',
  '16': '월 사용한도 초과',
  '19': '비밀번호 상이',
  '21': '비밀번호 오류횟수 초과',
  '23': '유효기간 오류',
  '26': '도난, 분실카드',
  '32': '연체카드',
  '48': '카드번호 또는 유효기간 오류',
  '49': '사용한도초과',
  '51': '주민(사업자)번호/생년월일 상이',
  '52': '생년월일 + 비밀번호 동시상이',
  '54': '잔액부족',
};

/** The NN values a `00NN` / `10NN` card or a `…9NN` amount turns into an issuer decline (spec §6.1). */
export const TEST_DECLINE_CODES = [
  '01', '02', '03', '04', '09', '10', '11', '14', '15', '16',
  '19', '21', '23', '26', '32', '48', '49', '51', '52', '54',
] as const;
const DECLINE_SET: ReadonlySet<string> = new Set(TEST_DECLINE_CODES);

/** tPay-level codes the simulator emits (NICE analogues, spec §2; OUR DESIGN where noted in docs/simulator.md). */
export const RESULT = {
  ok: '0000',
  refundOk: '2001',
  issuerRefused: '3095',
  cardNumber: '3011',
  expiry: '3021',
  quota: '3022',
  quotaLimit: '3023',
  quotaMinAmount: '3024',
  amount: '3041',
  overseas: '3051',
  systemError: '9999',
} as const;

export function issuerDecline(nn: string): TpayFailure {
  return {
    resultCd: RESULT.issuerRefused,
    resultMsg: '카드사 실패 응답',
    errorCd: nn,
    errorMsg: ISSUER_REASONS[nn] ?? '카드사 거절',
  };
}

export const SYSTEM_ERROR: TpayFailure = {
  resultCd: RESULT.systemError,
  resultMsg: '시스템 오류 (카드사 실패 응답)',
  errorCd: null,
  errorMsg: null,
};

/** What the PG does with an otherwise valid request. */
export type Behaviour =
  | { kind: 'approve' }
  | { kind: 'decline'; nn: string }
  /** record the outcome, then hold the answer (spec §6.1 `0098`) */
  | { kind: 'slow' }
  /** answer with a system error, record nothing approved (spec §6.1 `0099`) */
  | { kind: 'system_error' };

const APPROVE: Behaviour = { kind: 'approve' };

export interface CardFacts {
  /** refused as an overseas card (`3051 해외카드 거래불가`) */
  overseas: boolean;
  /** KFTC code (or PortOne's 1000x code for overseas brands) */
  kftcCode: string;
  /** 0 credit, 1 check */
  cardType: 0 | 1;
}

/** Fallback issuer for a well-formed PAN that names no known issuer: BC, the domestic processing network. */
export const FALLBACK_KFTC_CODE = '361';

const OVERSEAS_PREFIXES: ReadonlyArray<[RegExp, string]> = [
  [/^3[47]/, '10003'], // Amex
  [/^35/, '10006'], // JCB
  [/^36/, '10002'], // Diners
  [/^4/, '10005'], // Visa
  [/^5[1-5]/, '10004'], // Master
  [/^62/, '10001'], // UnionPay
];

/** Last four digits that make any card an overseas card the PG refuses: the digits of `3051`, tPay's code for it. */
export const OVERSEAS_LAST_FOUR = '3051';

/** How the simulator treats Visa/Master/Amex/JCB/Diners/UnionPay numbers that do not end in `3051`. */
export type OverseasCards = 'approve' | 'decline';

/**
 * Issuer and card type from the PAN (spec §6.1). `9CCC-T…` names the KFTC issuer. Korean issuers
 * issue Visa, Mastercard, JCB and Amex cards, so by default a brand number is an ordinary domestic
 * card whose issuer the number does not tell: BC. A number ending in `3051` is an overseas card
 * (the refusal trigger), and `overseasCards: 'decline'` treats every brand number as overseas.
 */
export function cardFacts(pan: string, overseasCards: OverseasCards = 'approve'): CardFacts {
  const brand = OVERSEAS_PREFIXES.find(([re]) => re.test(pan))?.[1];
  if (pan.endsWith(OVERSEAS_LAST_FOUR) || (brand && overseasCards === 'decline')) {
    return { overseas: true, kftcCode: brand ?? '10005', cardType: 0 };
  }
  if (pan.startsWith('9')) {
    const ccc = pan.slice(1, 4);
    return {
      overseas: false,
      kftcCode: DOMESTIC_KFTC_CODES.includes(ccc) ? ccc : FALLBACK_KFTC_CODE,
      cardType: pan[4] === '1' ? 1 : 0,
    };
  }
  return { overseas: false, kftcCode: FALLBACK_KFTC_CODE, cardType: 0 };
}

/**
 * The last-four rule of a PAN: what happens when a billing key is issued for it (`issue`)
 * and when it is charged, by key-in or through a billing key (`charge`).
 */
export function lastFourRule(pan: string): { issue: Behaviour; charge: Behaviour } {
  const last4 = pan.slice(-4);
  const head = last4.slice(0, 2);
  const nn = last4.slice(2);
  if (head === '00') {
    if (DECLINE_SET.has(nn)) return { issue: { kind: 'decline', nn }, charge: { kind: 'decline', nn } };
    if (nn === '98') return { issue: { kind: 'slow' }, charge: { kind: 'slow' } };
    if (nn === '99') return { issue: { kind: 'system_error' }, charge: { kind: 'system_error' } };
  }
  if (head === '10') {
    if (DECLINE_SET.has(nn)) return { issue: APPROVE, charge: { kind: 'decline', nn } };
    if (nn === '98') return { issue: APPROVE, charge: { kind: 'slow' } };
    if (nn === '99') return { issue: APPROVE, charge: { kind: 'system_error' } };
  }
  return { issue: APPROVE, charge: APPROVE };
}

/**
 * Amount trigger for charges (spec §6.1): an amount ending in `9NN` declines with issuer NN
 * when NN is a test decline code; `998` holds the answer like `0098`; `999` is a system error.
 * Amounts ending in `000` (and every other ending) approve.
 */
export function amountTrigger(amount: number): Behaviour {
  const tail = amount % 1000;
  if (tail < 900) return APPROVE;
  const nn = String(tail - 900).padStart(2, '0');
  if (DECLINE_SET.has(nn)) return { kind: 'decline', nn };
  if (nn === '98') return { kind: 'slow' };
  if (nn === '99') return { kind: 'system_error' };
  return APPROVE;
}

/** A PAN that fails the Luhn check or is not 13–19 digits. */
export const INVALID_CARD_NUMBER = '유효하지않은 카드번호를 입력하셨습니다.';

export interface CardFields {
  /** digits only */
  cardNum: string;
  /** YYMM */
  cardExp: string;
  /** first two password digits, if sent */
  cardPwd?: string;
  /** YYMMDD birth date or 10-digit business number, if sent */
  buyerAuthNum?: string;
}

/** `card_exp` (YYMM) to year and month, or null when malformed. */
export function parseCardExp(cardExp: string): { year: number; month: number } | null {
  if (!/^\d{4}$/.test(cardExp)) return null;
  const month = Number(cardExp.slice(2));
  if (month < 1 || month > 12) return null;
  return { year: 2000 + Number(cardExp.slice(0, 2)), month };
}

/** True when a card valid through the end of `cardExp` (YYMM) has expired at `nowMs` (KST calendar). */
export function isExpired(cardExp: string, nowMs: number): boolean {
  const exp = parseCardExp(cardExp);
  if (!exp) return true;
  const now = kstParts(nowMs);
  return exp.year * 12 + exp.month < now.year * 12 + now.month;
}

/**
 * Natural validation, applied before the last-four table (spec §6.1):
 * Luhn failure → 14, malformed expiry → 3021, expiry in the past → 04, birth 999999 → 51, password 99 → 19.
 * Returns null when the card passes.
 */
export function validateCard(card: CardFields, nowMs: number): TpayFailure | null {
  if (!/^\d{13,19}$/.test(card.cardNum) || !luhnValid(card.cardNum)) {
    // wording of PortOne's demo PG (NICE F112), which V1 client tests match on
    return { resultCd: RESULT.cardNumber, resultMsg: INVALID_CARD_NUMBER, errorCd: '14', errorMsg: INVALID_CARD_NUMBER };
  }
  if (!parseCardExp(card.cardExp)) {
    return { resultCd: RESULT.expiry, resultMsg: '유효기간 오류', errorCd: null, errorMsg: null };
  }
  if (isExpired(card.cardExp, nowMs)) {
    return { resultCd: RESULT.expiry, resultMsg: '유효기간 오류', errorCd: '04', errorMsg: ISSUER_REASONS['04']! };
  }
  if (card.buyerAuthNum === '999999') return issuerDecline('51');
  if (card.cardPwd === '99') return issuerDecline('19');
  return null;
}

export const OVERSEAS_REFUSED: TpayFailure = {
  resultCd: RESULT.overseas,
  resultMsg: '해외카드 거래불가',
  errorCd: null,
  errorMsg: null,
};

/** Installments need at least 50,000 KRW (FACT [S1h]). */
export const INSTALLMENT_MINIMUM = 50_000;
export const MAX_QUOTA = 36;

/**
 * Amount and installment rules (spec §6.1): amount below the minimum → 13,
 * `card_quota` 1 → refused, `card_quota` ≥ 2 under 50,000 KRW → 06, more than 36 months → refused.
 */
export function checkAmountAndQuota(amount: number, quota: number, minimumAmount: number): TpayFailure | null {
  if (amount < minimumAmount) {
    return {
      resultCd: RESULT.amount,
      resultMsg: `금액 오류(${minimumAmount}원 미만 신용카드 승인 불가)`,
      errorCd: '13',
      errorMsg: ISSUER_REASONS['13']!,
    };
  }
  if (quota === 1) {
    return { resultCd: RESULT.quota, resultMsg: '할부개월오류 (01개월 할부는 불가능합니다)', errorCd: null, errorMsg: null };
  }
  if (quota > MAX_QUOTA) {
    return { resultCd: RESULT.quotaLimit, resultMsg: '할부개월 한도 초과', errorCd: null, errorMsg: null };
  }
  if (quota >= 2 && amount < INSTALLMENT_MINIMUM) {
    return {
      resultCd: RESULT.quotaMinAmount,
      resultMsg: '할부 최소금액 오류(50000미만)',
      errorCd: '06',
      errorMsg: ISSUER_REASONS['06']!,
    };
  }
  return null;
}

/**
 * Builds a Luhn-valid 16-digit test PAN (for tests and docs).
 *
 * @example
 *   testCardNumber({ kftcCode: '366', lastFour: '0054' })        // 신한 credit card that declines 54 잔액부족
 *   testCardNumber({ kftcCode: '041', check: true, lastFour: '1234' }) // 우리 check card that approves
 *   testCardNumber({ prefix: '411111', lastFour: '1111' })       // an overseas Visa
 */
export function testCardNumber(opts: { kftcCode?: string; check?: boolean; prefix?: string; lastFour: string }): string {
  const prefix = opts.prefix ?? `9${opts.kftcCode ?? '366'}${opts.check ? '1' : '0'}`;
  if (!/^\d{4}$/.test(opts.lastFour)) throw new Error('lastFour must be 4 digits');
  const body = (prefix + '0'.repeat(16)).slice(0, 11); // 11 digits, then one check-adjust digit, then the last four
  for (let d = 0; d <= 9; d++) {
    const pan = `${body}${d}${opts.lastFour}`;
    if (luhnValid(pan)) return pan;
  }
  throw new Error('unreachable: one digit always satisfies Luhn');
}
