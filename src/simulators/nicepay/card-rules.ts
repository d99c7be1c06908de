/**
 * The shared deterministic test-card rules (src/simulators/shared/test-cards.ts) in NICEPAY's words:
 * the `card` object of spec §2.2 and the result codes of spec §8. docs/simulator-nicepay.md lists them.
 */
import { maskCardNumber } from '../../lib/card.js';
import { companyByKftc } from '../shared/card-companies.js';
import {
  amountTrigger,
  cardFacts,
  checkAmountAndQuota,
  issuerDecline,
  lastFourRule,
  validateCard,
  type Behaviour,
  type OverseasCards,
  type TpayFailure,
} from '../shared/test-cards.js';
import type { SimCard } from './ledger.js';

/** A refusal as the Start API words it: HTTP 200, `resultCode ≠ 0000`. */
export interface NiceFailure {
  resultCode: string;
  resultMsg: string;
  messageSource: 'nicepay' | 'external';
}

export const nicepayFailure = (resultCode: string, resultMsg: string): NiceFailure => ({ resultCode, resultMsg, messageSource: 'nicepay' });

/** The shared rules' failure as NICE reports it: issuer refusals are `3095` with the issuer's text, from `external`. */
export function fromCardFailure(f: TpayFailure): NiceFailure {
  if (f.resultCd === '3095') return { resultCode: '3095', resultMsg: `카드사 거절(${f.errorMsg ?? '카드사 거절'})`, messageSource: 'external' };
  return { resultCode: f.resultCd, resultMsg: f.resultMsg, messageSource: 'nicepay' };
}

/**
 * What the PG does with a charge: the shared rules' behaviours, plus the NICEPAY-only amount endings
 * `…997` (processed, then HTTP 500) and `…996` (processed, then a body that is not JSON).
 */
export type ChargeOutcome = Behaviour | { kind: 'lost_5xx' } | { kind: 'lost_garbage' };

/** The card as a card company would report it, and what approving/charging it does. */
export interface CardCheck {
  card: SimCard;
  issue: Behaviour;
  charge: Behaviour;
}

/** Validates a card (Luhn, expiry, birth/password triggers) and derives the §2.2 card object; a failure otherwise. */
export function checkCard(
  c: { cardNo: string; expYear: string; expMonth: string; idNo?: string; cardPw?: string; quota: number },
  now: number,
  overseasCards: OverseasCards,
): CardCheck | NiceFailure {
  const cardNum = c.cardNo.replace(/[\s-]/g, '');
  const failure = validateCard({ cardNum, cardExp: `${c.expYear}${c.expMonth}`, cardPwd: c.cardPw, buyerAuthNum: c.idNo }, now);
  if (failure) return fromCardFailure(failure);
  const facts = cardFacts(cardNum, overseasCards);
  if (facts.overseas) return nicepayFailure('3051', '해외카드 거래불가');
  const company = companyByKftc(facts.kftcCode);
  const code = company?.tpayCode ?? '01';
  const name = company?.tpayName ?? '비씨';
  const rules = lastFourRule(cardNum);
  return {
    card: {
      cardCode: code,
      cardName: name,
      cardNum: maskCardNumber(cardNum),
      cardQuota: c.quota,
      isInterestFree: false,
      cardType: facts.cardType === 1 ? 'check' : 'credit',
      canPartCancel: true,
      acquCardCode: code,
      acquCardName: name,
    },
    issue: rules.issue,
    charge: rules.charge,
  };
}

export const isFailure = (x: object): x is NiceFailure => 'resultCode' in x;

/**
 * The outcome of charging `amount` on a card whose last-four rule is `cardRule`: amount and quota
 * rules first (`3041`, `3022`–`3024`), then the card's rule, then the amount endings.
 */
export function chargeOutcome(amount: number, quota: number, cardRule: Behaviour, minimumAmount: number): ChargeOutcome | NiceFailure {
  const limits = checkAmountAndQuota(amount, quota, minimumAmount);
  if (limits) return fromCardFailure(limits);
  if (cardRule.kind !== 'approve') return cardRule;
  return otherOutcome(amount);
}

/** Amount endings for non-card methods and for cards that approve: `…9NN`, `…996`–`…999`. */
export function otherOutcome(amount: number): ChargeOutcome {
  const tail = amount % 1000;
  if (tail === 997) return { kind: 'lost_5xx' };
  if (tail === 996) return { kind: 'lost_garbage' };
  return amountTrigger(amount);
}

export function declineOf(b: { kind: 'decline'; nn: string }): NiceFailure {
  return fromCardFailure(issuerDecline(b.nn));
}

export const SYSTEM_FAILURE = nicepayFailure('9999', '일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.');
