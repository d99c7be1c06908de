/**
 * Every HTTP route of the tPay simulator: the `/api/v1/*` tPay REST protocol (form-encoded
 * requests, JSON answers, HTTP 200 with a tPay `result_cd`), and the simulator's own
 * `/__ledger` and `/__control/*` endpoints. Protocol details and every code: docs/simulator.md.
 */
import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { maskCardNumber } from '../../lib/card.js';
import type { Clock } from '../../lib/clock.js';
import { kstDate8, kstParts, kstTimestamp14 } from '../../lib/clock.js';
import { companyByKftc, companyByTpayCode, type TpayCardCompany } from '../shared/card-companies.js';
import { NO_WINDOW_FIELDS, type SimMerchant, type SimTransaction, type TpayLedger } from './ledger.js';
import { isRefundBank } from '../shared/banks.js';
import { HeldAnswers } from '../shared/held-answers.js';
import { publicBaseOf, receiptUrl } from './receipts.js';
import {
  amountTrigger,
  cardFacts,
  checkAmountAndQuota,
  isExpired,
  issuerDecline,
  ISSUER_REASONS,
  lastFourRule,
  OVERSEAS_REFUSED,
  type OverseasCards,
  RESULT,
  SYSTEM_ERROR,
  validateCard,
  type Behaviour,
  type TpayFailure,
} from '../shared/test-cards.js';

export interface TpayRoutesOptions {
  ledger: TpayLedger;
  clock: Clock;
  /** how long a `0098` answer is held, unless the client goes away first */
  slowResponseMs: number;
  /** charges below this amount decline with 13 */
  minimumAmount: number;
  /** brand cards: ordinary domestic cards (default) or refused with 3051 like cards ending in 3051 */
  overseasCards: OverseasCards;
  /** where buyers reach the simulator (receipt URLs); default: the address the caller used */
  publicUrl?: string;
}

export const TPAY_OPERATIONS = ['gen_billkey', 'payments_token', 'payments', 'del_billkey', 'refunds', 'trans_search', 'billkey_search'] as const;
export type TpayOperation = (typeof TPAY_OPERATIONS)[number];

/** A fault injected through `POST /__control/faults`, consumed by the next matching `/api/v1` request. */
export interface SimFault {
  /**
   * `http_500`: answer 500 with an HTML body, without processing.
   * `bad_json`: process the request (an approval is recorded), then answer 200 with a truncated body.
   * `reset`: process the request, then destroy the socket without answering.
   * `hold`: process the request, then hold the answer like the `0098` rule (a frozen PG: the
   *   refund or charge is done, its answer does not come until `POST /__control/holds/release`,
   *   `slowResponseMs` or the client leaving).
   */
  mode: 'http_500' | 'bad_json' | 'reset' | 'hold';
  op?: TpayOperation;
  mid?: string;
}

type Body = Record<string, string | undefined>;
type Json = Record<string, unknown>;
interface Answer {
  body: Json;
  /** hold the answer (the `0098` rule) */
  hold?: boolean;
}

const FORM = 'application/x-www-form-urlencoded';

function failure(f: TpayFailure, extra: Json = {}): Json {
  const b: Json = { result_cd: f.resultCd, result_msg: f.resultMsg };
  if (f.errorCd) {
    b.error_cd = f.errorCd;
    b.error_msg = f.errorMsg;
  }
  return { ...b, ...extra };
}

const plain = (resultCd: string, resultMsg: string): TpayFailure => ({ resultCd, resultMsg, errorCd: null, errorMsg: null });
const missing = (field: string) => plain('A117', `필수입력항목이 누락되었습니다 (${field})`);
const malformed = (field: string) => plain('A212', `잘못된 데이터 형식입니다 (${field})`);

function field(body: Body, key: string): string | undefined {
  const v = body[key];
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** 8-digit approval number, stable for a given merchant and moid (spec §6.1). */
export function approvalNumber(mid: string, moid: string): string {
  const h = createHash('sha256').update(`${mid}:${moid}`).digest();
  return String(h.readBigUInt64BE(0) % 100_000_000n).padStart(8, '0');
}

export function company(kftcCode: string): TpayCardCompany {
  return companyByKftc(kftcCode) ?? companyByKftc('361')!;
}

interface ChargeCard {
  masked: string;
  company: TpayCardCompany;
  cardType: 0 | 1;
}

/**
 * Adds the sales-slip URL to a successful answer: the approval's (`payments`, `payments_token`),
 * the cancel's own (`refunds`), and on `trans_search` each approved row's and each cancel's.
 */
function withReceiptUrls(op: TpayOperation, body: Json, urlOf: (tid: string) => string): Json {
  if ((op === 'payments' || op === 'payments_token') && body.result_cd === RESULT.ok && typeof body.tid === 'string') {
    return { ...body, receipt_url: urlOf(body.tid) };
  }
  if (op === 'refunds' && body.result_cd === RESULT.refundOk && typeof body.tid === 'string') return { ...body, receipt_url: urlOf(body.tid) };
  if (op === 'trans_search' && Array.isArray(body.list_arr)) {
    const list = (body.list_arr as Json[]).map((item) => {
      const approved = item.state_cd === '0' || item.state_cd === '1' || item.state_cd === '2';
      const cancels = Array.isArray(item.cancel_list) ? (item.cancel_list as Json[]).map((c) => ({ ...c, receipt_url: urlOf(String(c.tid)) })) : item.cancel_list;
      return { ...item, receipt_url: approved ? urlOf(String(item.tid)) : '', cancel_list: cancels };
    });
    return { ...body, list_arr: list };
  }
  return body;
}

export async function tpayRoutes(app: FastifyInstance, o: TpayRoutesOptions): Promise<void> {
  const { ledger, clock } = o;
  const faults: SimFault[] = [];
  const holds = new HeldAnswers(o.slowResponseMs);

  // Encapsulated: a parent's form parser (if any) is replaced in this context only.
  if (app.hasContentTypeParser(FORM)) app.removeContentTypeParser(FORM);
  app.addContentTypeParser(FORM, { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook('preClose', async () => {
    holds.releaseAll();
  });

  function takeFault(op: TpayOperation, mid: string | undefined): SimFault | undefined {
    const i = faults.findIndex((f) => (!f.op || f.op === op) && (!f.mid || f.mid === mid));
    return i < 0 ? undefined : faults.splice(i, 1)[0];
  }

  function authenticate(body: Body): SimMerchant | TpayFailure {
    const mid = field(body, 'mid');
    if (!mid) return missing('mid');
    const apiKey = field(body, 'api_key');
    if (!apiKey) return missing('api_key');
    const merchant = ledger.getMerchant(mid);
    if (!merchant) return plain('2152', '미등록가맹점');
    if (!sameSecret(apiKey, merchant.merchantKey)) return plain('A101', '상점키(api_key) 검증에 실패하였습니다');
    return merchant;
  }

  function parseAmount(raw: string | undefined, name: string): number | TpayFailure {
    if (raw === undefined) return missing(name);
    if (!/^\d{1,12}$/.test(raw)) return plain('A116', `요청 금액이 올바르지 않습니다 (${name})`);
    return Number(raw);
  }

  function parseQuota(raw: string | undefined): number | TpayFailure {
    if (raw === undefined) return 0;
    if (!/^\d{1,2}$/.test(raw)) return plain(RESULT.quota, '할부개월오류');
    return Number(raw);
  }

  function checkOptionalCardFields(body: Body): TpayFailure | null {
    const pwd = field(body, 'card_pwd');
    if (pwd !== undefined && !/^\d{2}$/.test(pwd)) return malformed('card_pwd');
    const auth = field(body, 'buyer_auth_num');
    if (auth !== undefined && !/^(\d{6}|\d{10})$/.test(auth)) return malformed('buyer_auth_num');
    const cvc = field(body, 'card_cvc');
    if (cvc !== undefined && !/^\d{3,4}$/.test(cvc)) return malformed('card_cvc');
    return null;
  }

  function describeCard(pan: string): ChargeCard & { overseas: boolean } {
    const facts = cardFacts(pan, o.overseasCards);
    return { masked: maskCardNumber(pan), company: company(facts.kftcCode), cardType: facts.cardType, overseas: facts.overseas };
  }

  /** Records the attempt and builds the answer of a charge whose request was well-formed. */
  function settleCharge(
    merchant: SimMerchant,
    p: {
      method: 'keyin' | 'billkey';
      cardToken: string | null;
      moid: string;
      amount: number;
      quota: number;
      goodsName: string;
      card: ChargeCard;
      /** a refusal found by validation, before the card company is asked */
      refusal: TpayFailure | null;
      behaviour: Behaviour;
    },
  ): Answer {
    const now = clock.now();
    const tid = ledger.nextTid(merchant.mid);
    let refusal = p.refusal;
    if (!refusal && p.behaviour.kind === 'decline') refusal = issuerDecline(p.behaviour.nn);
    if (!refusal && p.behaviour.kind === 'system_error') refusal = SYSTEM_ERROR;
    const base: SimTransaction = {
      tid,
      mid: merchant.mid,
      moid: p.moid,
      method: p.method,
      cardToken: p.cardToken,
      amount: p.amount,
      cancelledAmount: 0,
      status: 'failed',
      resultCd: '',
      resultMsg: '',
      errorCd: null,
      errorMsg: null,
      appNo: null,
      cardNumMasked: p.card.masked,
      tpayCardCode: p.card.company.tpayCode,
      cardType: p.card.cardType,
      cardQuota: p.quota,
      goodsName: p.goodsName,
      createdAt: now,
      ...NO_WINDOW_FIELDS,
    };
    if (refusal) {
      ledger.insertTransaction({ ...base, resultCd: refusal.resultCd, resultMsg: refusal.resultMsg, errorCd: refusal.errorCd, errorMsg: refusal.errorMsg });
      return { body: failure(refusal, { tid, moid: p.moid }) };
    }
    const appNo = approvalNumber(merchant.mid, p.moid);
    ledger.insertTransaction({ ...base, status: 'paid', resultCd: RESULT.ok, resultMsg: '승인 성공', appNo });
    return {
      hold: p.behaviour.kind === 'slow',
      body: {
        result_cd: RESULT.ok,
        result_msg: '승인 성공',
        tid,
        moid: p.moid,
        paid_amt: String(p.amount),
        app_no: appNo,
        app_dt: kstTimestamp14(now),
        app_co: p.card.company.tpayCode,
        app_co_name: p.card.company.tpayName,
        card_num: p.card.masked,
        card_quota: String(p.quota).padStart(2, '0'),
        card_type: String(p.card.cardType),
        pay_method: 'CARD',
      },
    };
  }

  /**
   * Per pay method refund rules (spec §6.2, OUR DESIGN codes): CELLPHONE only in full and within
   * the KST month of the payment; a deposited VBANK needs the buyer's refund account; an issued
   * VBANK not yet paid into can only be closed in full (no refund account needed).
   */
  function methodCancelRule(
    tx: SimTransaction,
    c: { partial: boolean; amount: number; remaining: number; now: number; body: Body },
  ): TpayFailure | { refundBankCd?: string; refundAcctMasked?: string; refundAcctName?: string } {
    if (tx.payMethod === 'CELLPHONE') {
      if (c.partial || c.amount !== tx.amount) return plain('2028', '휴대폰 결제는 부분취소가 불가능합니다');
      const paid = kstParts(tx.createdAt);
      const now = kstParts(c.now);
      if (paid.year !== now.year || paid.month !== now.month) return plain('2029', '휴대폰 결제는 결제 당월에만 취소가 가능합니다');
    }
    if (tx.payMethod === 'VBANK') {
      if (tx.status === 'ready') {
        return c.amount === c.remaining && !c.partial ? {} : plain('2030', '입금 전 가상계좌는 전액 취소만 가능합니다');
      }
      const bank = field(c.body, 'refund_bank_cd');
      const acct = field(c.body, 'refund_acct_no')?.replace(/[\s-]/g, '');
      const name = field(c.body, 'refund_acct_nm');
      if (!bank || !acct || !name) return plain('2040', '환불계좌 정보 필요 (refund_bank_cd, refund_acct_no, refund_acct_nm)');
      if (!isRefundBank(bank) || !/^\d{10,16}$/.test(acct)) return plain('2041', '환불계좌 정보 오류');
      return { refundBankCd: bank, refundAcctMasked: `${'*'.repeat(acct.length - 4)}${acct.slice(-4)}`, refundAcctName: name };
    }
    return {};
  }

  const handlers: Record<TpayOperation, (merchant: SimMerchant, body: Body) => Answer> = {
    gen_billkey(merchant, body) {
      const cardNum = field(body, 'card_num')?.replace(/[\s-]/g, '');
      if (!cardNum) return { body: failure(missing('card_num')) };
      const cardExp = field(body, 'card_exp');
      if (!cardExp) return { body: failure(missing('card_exp')) };
      const bad = checkOptionalCardFields(body);
      if (bad) return { body: failure(bad) };
      const refusal = validateCard(
        { cardNum, cardExp, cardPwd: field(body, 'card_pwd'), buyerAuthNum: field(body, 'buyer_auth_num') },
        clock.now(),
      );
      if (refusal) return { body: failure(refusal) };
      const card = describeCard(cardNum);
      if (card.overseas) return { body: failure(OVERSEAS_REFUSED) };
      const rule = lastFourRule(cardNum);
      if (rule.issue.kind === 'decline') return { body: failure(issuerDecline(rule.issue.nn)) };
      if (rule.issue.kind === 'system_error') return { body: failure(SYSTEM_ERROR) };
      const cardToken = randomBytes(24).toString('base64url');
      ledger.insertBillingKey({
        cardToken,
        mid: merchant.mid,
        cardNumMasked: card.masked,
        tpayCardCode: card.company.tpayCode,
        cardType: card.cardType,
        cardExp,
        chargeRule: rule.charge,
        createdAt: clock.now(),
        deletedAt: null,
      });
      return {
        hold: rule.issue.kind === 'slow',
        body: {
          result_cd: RESULT.ok,
          result_msg: '빌키 발급 성공',
          card_token: cardToken,
          card_num: card.masked,
          card_code: card.company.tpayCode,
          card_name: card.company.tpayName,
          card_type: String(card.cardType),
        },
      };
    },

    payments(merchant, body) {
      const cardNum = field(body, 'card_num')?.replace(/[\s-]/g, '');
      if (!cardNum) return { body: failure(missing('card_num')) };
      const cardExp = field(body, 'card_exp');
      if (!cardExp) return { body: failure(missing('card_exp')) };
      const moid = field(body, 'moid');
      if (!moid) return { body: failure(missing('moid')) };
      const goodsName = field(body, 'goods_nm');
      if (!goodsName) return { body: failure(missing('goods_nm')) };
      const amount = parseAmount(field(body, 'amt'), 'amt');
      if (typeof amount !== 'number') return { body: failure(amount) };
      const quota = parseQuota(field(body, 'card_quota'));
      if (typeof quota !== 'number') return { body: failure(quota) };
      const bad = checkOptionalCardFields(body);
      if (bad) return { body: failure(bad) };
      if (ledger.approvedByMoid(merchant.mid, moid)) return { body: failure(plain('A127', '주문번호 중복 오류'), { moid }) };

      const card = describeCard(cardNum);
      const refusal =
        validateCard({ cardNum, cardExp, cardPwd: field(body, 'card_pwd'), buyerAuthNum: field(body, 'buyer_auth_num') }, clock.now()) ??
        (card.overseas ? OVERSEAS_REFUSED : null) ??
        checkAmountAndQuota(amount, quota, o.minimumAmount);
      const byCard = lastFourRule(cardNum).charge;
      return settleCharge(merchant, {
        method: 'keyin',
        cardToken: null,
        moid,
        amount,
        quota,
        goodsName,
        card,
        refusal,
        behaviour: byCard.kind === 'approve' ? amountTrigger(amount) : byCard,
      });
    },

    payments_token(merchant, body) {
      const cardToken = field(body, 'card_token');
      if (!cardToken) return { body: failure(missing('card_token')) };
      const moid = field(body, 'moid');
      if (!moid) return { body: failure(missing('moid')) };
      const goodsName = field(body, 'goods_nm');
      if (!goodsName) return { body: failure(missing('goods_nm')) };
      const amount = parseAmount(field(body, 'amt'), 'amt');
      if (typeof amount !== 'number') return { body: failure(amount) };
      const quota = parseQuota(field(body, 'card_quota'));
      if (typeof quota !== 'number') return { body: failure(quota) };
      const key = ledger.getBillingKey(merchant.mid, cardToken);
      if (!key || key.deletedAt !== null) {
        return { body: failure(plain('A126', '이미 삭제된 빌키이거나 존재하지 않은 빌키입니다'), { moid }) };
      }
      if (ledger.approvedByMoid(merchant.mid, moid)) return { body: failure(plain('A127', '주문번호 중복 오류'), { moid }) };
      const refusal = isExpired(key.cardExp, clock.now())
        ? { resultCd: RESULT.expiry, resultMsg: '유효기간 오류', errorCd: '04', errorMsg: ISSUER_REASONS['04']! }
        : checkAmountAndQuota(amount, quota, o.minimumAmount);
      return settleCharge(merchant, {
        method: 'billkey',
        cardToken,
        moid,
        amount,
        quota,
        goodsName,
        card: { masked: key.cardNumMasked, company: companyByTpayCode(key.tpayCardCode) ?? company('361'), cardType: key.cardType },
        refusal,
        behaviour: key.chargeRule.kind === 'approve' ? amountTrigger(amount) : key.chargeRule,
      });
    },

    del_billkey(merchant, body) {
      const cardToken = field(body, 'card_token');
      if (!cardToken) return { body: failure(missing('card_token')) };
      if (!ledger.deleteBillingKey(merchant.mid, cardToken)) {
        return { body: failure(plain('A126', '이미 삭제된 빌키이거나 존재하지 않은 빌키입니다')) };
      }
      return { body: { result_cd: RESULT.ok, result_msg: '빌키 삭제 성공' } };
    },

    refunds(merchant, body) {
      const tid = field(body, 'tid');
      if (!tid) return { body: failure(missing('tid')) };
      const cancelPw = field(body, 'cancel_pw');
      if (!cancelPw) return { body: failure(plain('2025', '취소패스워드 미 입력')) };
      if (!merchant.cancelPasswords.some((pw) => sameSecret(cancelPw, pw))) {
        return { body: failure(plain('2024', '취소패스워드 불일치')) };
      }
      const tx = ledger.getTransaction(merchant.mid, tid);
      const moid = field(body, 'moid');
      if (!tx || (moid !== undefined && moid !== tx.moid)) return { body: failure(plain('2012', '취소 해당거래 없음')) };
      if (tx.status === 'failed') return { body: failure(plain('2014', '취소 불가능 거래')) };
      const partialRaw = field(body, 'partial_cancel') ?? '0';
      if (partialRaw !== '0' && partialRaw !== '1') return { body: failure(malformed('partial_cancel')) };
      const partial = partialRaw === '1';
      const remaining = tx.amount - tx.cancelledAmount;
      if (remaining <= 0) return { body: failure(plain('2013', '취소 완료 거래')) };
      const rawAmt = field(body, 'cancel_amt');
      let amount: number;
      if (rawAmt === undefined && !partial) amount = remaining;
      else {
        const parsed = parseAmount(rawAmt, 'cancel_amt');
        if (typeof parsed !== 'number') return { body: failure(parsed) };
        amount = parsed;
      }
      if (amount <= 0) return { body: failure(plain('2010', '취소 요청금액 0원 이하')) };
      if (amount > remaining) return { body: failure(plain('2032', '취소금액이 취소가능금액보다 큼')) };
      if (!partial && amount !== remaining) {
        return { body: failure(plain('2011', '취소 금액 불일치 (전체취소 금액이 취소가능금액과 다릅니다. 부분취소는 partial_cancel=1)')) };
      }
      const now = clock.now();
      const byMethod = methodCancelRule(tx, { partial, amount, remaining, now, body });
      if ('resultCd' in byMethod) return { body: failure(byMethod) };
      const cancelTid = ledger.nextTid(merchant.mid);
      const after = ledger.recordCancel({
        cancelTid,
        tid,
        mid: merchant.mid,
        amount,
        reason: field(body, 'cancel_msg') ?? '',
        partial,
        createdAt: now,
        ...byMethod,
      });
      const ts = kstTimestamp14(now);
      return {
        body: {
          result_cd: RESULT.refundOk,
          result_msg: '취소 성공',
          tid: cancelTid,
          org_tid: tid,
          moid: tx.moid,
          CancelDate: ts.slice(0, 8),
          CancelTime: ts.slice(8),
          PayMethod: tx.payMethod,
          cancel_amt: String(amount),
          remain_amt: String(after.amount - after.cancelledAmount),
          partial_cancel: partial ? '1' : '0',
        },
      };
    },

    trans_search(merchant, body) {
      const tid = field(body, 'tid');
      const moid = field(body, 'moid');
      if (!tid && !moid) return { body: failure(missing('tid 또는 moid')) };
      const sdate = field(body, 'sch_sdate');
      const edate = field(body, 'sch_edate');
      for (const [name, v] of [['sch_sdate', sdate], ['sch_edate', edate]] as const) {
        if (v !== undefined && !/^\d{8}$/.test(v)) return { body: failure(plain('A106', `날짜 형식이 올바르지 않습니다 (${name})`)) };
      }
      const list = ledger.search(merchant.mid, { tid, moid }).filter((t) => {
        const d = kstDate8(t.createdAt);
        return (!sdate || d >= sdate) && (!edate || d <= edate);
      });
      if (list.length === 0) return { body: { result_cd: 'A118', result_msg: '조회 결과데이터 없음', list_arr: [] } };
      return { body: { result_cd: RESULT.ok, result_msg: '조회 성공', list_arr: list.map(searchItem) } };
    },

    // OUR DESIGN: a billing key's facts as the PG holds them, so a merchant can confirm a key a
    // browser reported (the window's F100 result is not signed). Deleted or unknown keys: A126.
    billkey_search(merchant, body) {
      const cardToken = field(body, 'card_token');
      if (!cardToken) return { body: failure(missing('card_token')) };
      const key = ledger.getBillingKey(merchant.mid, cardToken);
      if (!key || key.deletedAt !== null) return { body: failure(plain('A126', '이미 삭제된 빌키이거나 존재하지 않은 빌키입니다')) };
      const c = companyByTpayCode(key.tpayCardCode);
      return {
        body: {
          result_cd: RESULT.ok,
          result_msg: '조회 성공',
          card_token: key.cardToken,
          card_num: key.cardNumMasked,
          card_code: key.tpayCardCode,
          card_name: c?.tpayName ?? '',
          card_type: String(key.cardType),
          moid: key.moid ?? '',
          mall_user_id: key.mallUserId ?? '',
          reg_dt: kstTimestamp14(key.createdAt),
        },
      };
    },
  };

  function searchItem(t: SimTransaction): Json {
    const c = companyByTpayCode(t.tpayCardCode);
    const stateCd =
      t.status === 'failed' ? '9' : t.status === 'cancelled' ? '1' : t.status === 'ready' ? '4' : t.cancelledAmount > 0 ? '2' : '0';
    const windowFields: Json = {};
    if (t.payMethod === 'BANK' || t.payMethod === 'VBANK') windowFields.bank_code = t.bankCode ?? '';
    if (t.payMethod === 'VBANK') {
      windowFields.vbank_num = t.vbankNum ?? '';
      windowFields.vbank_exp_dt = t.vbankDueAt === null ? '' : kstTimestamp14(t.vbankDueAt);
      // OUR DESIGN (decision 0043): the holder the window showed, so a merchant records the PG's account, not the post's
      windowFields.vbank_holder = t.vbankHolder ?? '';
      windowFields.deposit_dt = t.depositedAt === null ? '' : kstTimestamp14(t.depositedAt);
    }
    if (t.payMethod === 'CELLPHONE') {
      windowFields.carrier = t.carrier ?? '';
      windowFields.phone_no = t.phoneMasked ?? '';
    }
    return {
      tid: t.tid,
      moid: t.moid,
      mid: t.mid,
      pay_method: t.payMethod,
      // OUR DESIGN: the window's transType (0 normal, 1 escrow), so a merchant can tell an escrow
      // payment it did not ask for (the form field is not signed)
      trans_type: String(t.transType),
      state_cd: stateCd,
      amt: String(t.amount),
      cancel_amt: String(t.cancelledAmount),
      remain_amt: String(t.amount - t.cancelledAmount),
      result_cd: t.resultCd,
      result_msg: t.resultMsg,
      error_cd: t.errorCd ?? '',
      error_msg: t.errorMsg ?? '',
      app_no: t.appNo ?? '',
      app_dt: kstTimestamp14(t.createdAt),
      app_co: t.tpayCardCode,
      app_co_name: c?.tpayName ?? '',
      card_num: t.cardNumMasked,
      card_quota: String(t.cardQuota).padStart(2, '0'),
      card_type: String(t.cardType),
      goods_nm: t.goodsName,
      cancel_list: ledger.cancelsOf(t.tid).map((x) => ({
        tid: x.cancelTid,
        cancel_amt: String(x.amount),
        cancel_dt: kstTimestamp14(x.createdAt),
        cancel_msg: x.reason,
        partial_cancel: x.partial ? '1' : '0',
      })),
      ...windowFields,
    };
  }

  for (const op of TPAY_OPERATIONS) {
    app.post(`/api/v1/${op}`, async (req: FastifyRequest, reply: FastifyReply) => {
      // Like a servlet reading form parameters, tPay sees no fields in a body that is not form-encoded.
      const isForm = (req.headers['content-type'] ?? '').toLowerCase().startsWith(FORM);
      const body: Body = isForm && req.body && typeof req.body === 'object' ? (req.body as Body) : {};
      const fault = takeFault(op, field(body, 'mid'));
      if (fault?.mode === 'http_500') {
        req.log.warn({ op, fault: fault.mode }, 'tpay simulator: injected fault');
        return reply.code(500).type('text/html').send('<html><body><h1>500 Internal Server Error</h1></body></html>');
      }
      const merchant = authenticate(body);
      const answer: Answer = 'resultCd' in merchant ? { body: failure(merchant) } : handlers[op](merchant, body);
      if (!('resultCd' in merchant)) {
        const base = publicBaseOf(req, app.prefix, o.publicUrl);
        answer.body = withReceiptUrls(op, answer.body, (tid) => receiptUrl(base, merchant, tid));
      }
      req.log.info(
        {
          op,
          mid: field(body, 'mid'),
          moid: answer.body.moid,
          tid: answer.body.tid,
          card_num: answer.body.card_num,
          result_cd: answer.body.result_cd,
          error_cd: answer.body.error_cd,
        },
        'tpay simulator: answer',
      );
      if (fault?.mode === 'bad_json') {
        req.log.warn({ op, fault: fault.mode }, 'tpay simulator: injected fault');
        return reply.code(200).type('application/json').send(JSON.stringify(answer.body).slice(0, 20));
      }
      if (fault?.mode === 'reset') {
        req.log.warn({ op, fault: fault.mode }, 'tpay simulator: injected fault');
        reply.hijack();
        req.raw.socket.destroy();
        return reply;
      }
      if (answer.hold || fault?.mode === 'hold') {
        const stillThere = await holds.hold(reply);
        if (!stillThere) {
          req.log.info({ op, tid: answer.body.tid }, 'tpay simulator: client left before the held answer');
          reply.hijack();
          return reply;
        }
      }
      return reply.send(answer.body);
    });
  }

  // ---- simulator-only endpoints (not part of tPay) ----

  app.get('/__ledger', async (req) => {
    const mid = (req.query as Record<string, string | undefined>).mid;
    return ledger.snapshot(mid || undefined);
  });

  app.post('/__control/merchants', async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const mid = typeof b.mid === 'string' ? b.mid : '';
    const merchantKey = typeof b.merchantKey === 'string' ? b.merchantKey : '';
    const pw = b.cancelPassword;
    const cancelPasswords = typeof pw === 'string' ? [pw] : Array.isArray(pw) ? pw.filter((x): x is string => typeof x === 'string') : [];
    if (!/^[A-Za-z0-9_]{1,20}$/.test(mid) || merchantKey === '' || cancelPasswords.length === 0) {
      return reply.code(400).send({ error: 'mid (1-20 letters/digits), merchantKey and cancelPassword are required' });
    }
    ledger.putMerchant({ mid, merchantKey, cancelPasswords, name: typeof b.name === 'string' ? b.name : mid }, true);
    return reply.code(201).send({ mid });
  });

  app.post('/__control/faults', async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const modes = ['http_500', 'bad_json', 'reset', 'hold'];
    if (typeof b.mode !== 'string' || !modes.includes(b.mode)) {
      return reply.code(400).send({ error: `mode must be one of ${modes.join(', ')}` });
    }
    if (b.op !== undefined && !TPAY_OPERATIONS.includes(b.op as TpayOperation)) {
      return reply.code(400).send({ error: `op must be one of ${TPAY_OPERATIONS.join(', ')}` });
    }
    const times = typeof b.times === 'number' && b.times > 0 ? Math.min(100, Math.floor(b.times)) : 1;
    for (let i = 0; i < times; i++) {
      faults.push({
        mode: b.mode as SimFault['mode'],
        op: b.op as TpayOperation | undefined,
        mid: typeof b.mid === 'string' ? b.mid : undefined,
      });
    }
    return reply.code(201).send({ pending: faults.length });
  });

  app.get('/__control/faults', async () => ({ pending: faults }));

  app.delete('/__control/faults', async () => {
    faults.length = 0;
    return { pending: [] };
  });

  /** answers currently held by the `0098` rule */
  app.get('/__control/holds', async () => ({ held: holds.count }));

  /** answers every held request now (the frozen PG resumes) */
  app.post('/__control/holds/release', async () => {
    return { released: holds.releaseAll() };
  });

  app.get('/__health', async () => ({ ok: true, now: clock.now() }));
}
