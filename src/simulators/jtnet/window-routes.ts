/**
 * The simulator's payment window: tPay's `webTxInit` protocol (spec §2.1), `resultConfirm`, the
 * virtual-account deposit control endpoint and its notice to the merchant. Protocol, field names
 * and every OUR DESIGN choice: docs/simulator.md, "Payment window".
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { request } from 'undici';
import { maskCardNumber } from '../../lib/card.js';
import type { Clock } from '../../lib/clock.js';
import { kstDate8, kstTimestamp14 } from '../../lib/clock.js';
import { bankByCode, DEFAULT_VBANK_CODE } from '../shared/banks.js';
import { companyByTpayCode } from '../shared/card-companies.js';
import { NO_WINDOW_FIELDS, type SimMerchant, type SimTransaction, type TpayLedger } from './ledger.js';
import { approvalNumber, company } from './routes.js';
import {
  amountTrigger,
  cardFacts,
  checkAmountAndQuota,
  issuerDecline,
  lastFourRule,
  OVERSEAS_REFUSED,
  type OverseasCards,
  RESULT,
  SYSTEM_ERROR,
  testCardNumber,
  validateCard,
  type Behaviour,
  type TpayFailure,
} from '../shared/test-cards.js';
import { depositNoticeSignature, tpayDecrypt, tpayEncrypt } from './window-crypto.js';
import { autoPostPage, CARRIERS, errorPage, pendingPage, SANDBOX_OTP, windowPage, type Lang, type WindowMethod } from './window-pages.js';

export interface TpayWindowOptions {
  ledger: TpayLedger;
  clock: Clock;
  minimumAmount: number;
  overseasCards: OverseasCards;
  /** a window left open longer than this cannot be submitted (default 30 minutes) */
  windowTtlMs: number;
  /** net-cancel window approvals not acknowledged by resultConfirm after this long; 0 = never */
  netCancelUnconfirmedMs: number;
  /** how long the deposit notice waits for the merchant's answer */
  noticeTimeoutMs: number;
}

/** Window result codes (docs/simulator.md). 3001 and 4000 are FACT; the others ANALOGUE or OUR DESIGN. */
export const WINDOW_RESULT = {
  cardOk: '3001',
  bankOk: '4000',
  vbankIssued: '4100',
  phoneOk: 'A000',
  billkeyIssued: 'F100',
  bankDeclined: '4004',
  phoneLimit: 'A005',
  userCancel: 'U001',
  duplicateMoid: 'A127',
  quotaNotOffered: '3022',
  depositNotice: '4110',
} as const;

const METHODS: readonly WindowMethod[] = ['CARD', 'CDBILLRG', 'BANK', 'VBANK', 'CELLPHONE'];
type Body = Record<string, string | undefined>;

function str(body: Body, key: string): string | undefined {
  const v = body[key];
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function isHttpUrl(s: string | undefined): s is string {
  if (!s) return false;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Installment months the window offers: `quotaFixed` = `00:02:03` style list (OUR DESIGN); empty = 2–12. */
export function parseQuotaFixed(raw: string | undefined): number[] {
  if (!raw) return [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  return [...new Set(raw.split(/[:,]/).map((x) => Number(x.trim())))].filter((n) => Number.isInteger(n) && n >= 2 && n <= 36).sort((a, b) => a - b);
}

/** 14-digit virtual account number: the KFTC bank code + 11 digits of SHA-256(mid:moid:bank); deterministic (spec §6.2). */
export function vbankNumber(mid: string, moid: string, bankCode: string): string {
  const h = createHash('sha256').update(`${mid}:${moid}:${bankCode}`).digest();
  return `${bankCode}${String(h.readBigUInt64BE(0) % 100_000_000_000n).padStart(11, '0')}`;
}

const DAY_MS = 86_400_000;
const KST_MS = 9 * 3600 * 1000;

/** 23:59:59 KST of a YYYYMMDD day, in ms. */
function endOfKstDay(yyyymmdd: string): number {
  const y = Number(yyyymmdd.slice(0, 4));
  const m = Number(yyyymmdd.slice(4, 6));
  const d = Number(yyyymmdd.slice(6, 8));
  return Date.UTC(y, m - 1, d, 23, 59, 59) - KST_MS;
}

function validDate8(s: string): boolean {
  if (!/^\d{8}$/.test(s)) return false;
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(4, 6));
  const d = Number(s.slice(6, 8));
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

function maskPhone(digits: string): string {
  return `${digits.slice(0, 3)}****${digits.slice(-4)}`;
}

export async function tpayWindowRoutes(app: FastifyInstance, o: TpayWindowOptions): Promise<void> {
  const { ledger, clock } = o;

  // OUR DESIGN: approvals the merchant never acknowledged are net-cancelled (망취소), swept lazily
  // on every request so the injected clock decides.
  if (o.netCancelUnconfirmedMs > 0) {
    app.addHook('onRequest', async () => {
      for (const tx of ledger.unconfirmedWindowApprovals(clock.now() - o.netCancelUnconfirmedMs)) {
        ledger.recordCancel({
          cancelTid: ledger.nextTid(tx.mid),
          tid: tx.tid,
          mid: tx.mid,
          amount: tx.amount - tx.cancelledAmount,
          reason: '망취소 (resultConfirm 미수신)',
          partial: false,
          createdAt: clock.now(),
        });
      }
    });
  }

  const langOf = (body: Body): Lang => ((str(body, 'language') ?? '').toUpperCase() === 'EN' ? 'en' : 'ko');

  function fail(reply: FastifyReply, lang: Lang, status: number, code: string, message: string) {
    return reply.code(status).type('text/html; charset=utf-8').send(errorPage(lang, code, message));
  }

  /** Absolute path of the window's submit endpoint, whatever prefix the simulator is mounted under. */
  function submitPath(req: FastifyRequest): string {
    const path = req.url.split('?')[0]!;
    return path.replace(/\/(mobile\/)?webTxInit(\/pay)?$/, '') + '/webTxInit/pay';
  }

  async function webTxInit(req: FastifyRequest, reply: FastifyReply, mobile: boolean) {
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Body;
    const lang = langOf(body);
    for (const k of ['mid', 'payMethod', 'amt', 'moid', 'goodsName', 'ediDate', 'encryptData', 'returnUrl']) {
      if (!str(body, k)) return fail(reply, lang, 400, 'A117', `필수입력항목이 누락되었습니다 (${k})`);
    }
    const mid = str(body, 'mid')!;
    const merchant = ledger.getMerchant(mid);
    if (!merchant) return fail(reply, lang, 400, '2152', '미등록가맹점');
    const method = str(body, 'payMethod')!.toUpperCase() as WindowMethod;
    if (!METHODS.includes(method)) return fail(reply, lang, 400, 'A212', `지원하지 않는 결제수단입니다 (payMethod ${method})`);
    const amt = str(body, 'amt')!;
    if (!/^\d{1,12}$/.test(amt) || (Number(amt) === 0 && method !== 'CDBILLRG')) return fail(reply, lang, 400, 'A116', '요청 금액이 올바르지 않습니다 (amt)');
    const ediDate = str(body, 'ediDate')!;
    if (!/^\d{14}$/.test(ediDate)) return fail(reply, lang, 400, 'A212', '잘못된 데이터 형식입니다 (ediDate)');
    const moid = str(body, 'moid')!;
    const plain = tpayDecrypt(str(body, 'encryptData')!, ediDate, merchant.merchantKey);
    if (plain === null || plain !== `${amt}${mid}${moid}`) {
      req.log.warn({ mid, moid }, 'tpay simulator: encryptData does not match amt+mid+moid');
      return fail(reply, lang, 400, 'A111', '위변조 데이터 오류: encryptData 검증에 실패하였습니다');
    }
    const returnUrl = str(body, 'returnUrl');
    const cancelUrl = str(body, 'cancelUrl') ?? returnUrl;
    // No notice URL is taken from the form (a `notifyUrl` field is ignored like any unknown one): the
    // browser could send a deposit's notice anywhere. It is the MID's setting (`/__control/notify-url`,
    // tPay's merchant admin: decision 0086)
    if (!isHttpUrl(returnUrl) || !isHttpUrl(cancelUrl)) {
      return fail(reply, lang, 400, 'A212', '잘못된 데이터 형식입니다 (returnUrl / cancelUrl)');
    }
    // tPay's transType: 0 일반, 1 에스크로, escrow for CARD, BANK and VBANK only (FACT, spec §1.2; the
    // code is OUR DESIGN). Not signed (encryptData covers amt, mid and moid), so the browser may set
    // it; the PG keeps what the window was opened with and reports it (trans_search `trans_type`)
    const transType = str(body, 'transType') ?? '0';
    if (transType !== '0' && transType !== '1') return fail(reply, lang, 400, 'A212', '잘못된 데이터 형식입니다 (transType)');
    if (transType === '1' && !['CARD', 'BANK', 'VBANK'].includes(method)) return fail(reply, lang, 400, 'A212', '에스크로에서 지원하지 않는 결제수단입니다');
    let vbankExpDate = str(body, 'vbankExpDate');
    if (method === 'VBANK') {
      const today = kstDate8(clock.now());
      if (vbankExpDate === undefined) vbankExpDate = kstDate8(clock.now() + DAY_MS);
      if (!validDate8(vbankExpDate) || vbankExpDate < today) return fail(reply, lang, 400, 'A212', '잘못된 데이터 형식입니다 (vbankExpDate)');
    }
    const token = randomBytes(18).toString('base64url');
    const request: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') request[k] = v;
    request.payMethod = method;
    request.transType = transType;
    if (vbankExpDate) request.vbankExpDate = vbankExpDate;
    request.cancelUrl = cancelUrl;
    ledger.insertWindowSession({ token, mid, request, mobile, createdAt: clock.now(), closedAt: null });
    req.log.info({ mid, moid, payMethod: method, mobile }, 'tpay simulator: window opened');
    return sendWindow(reply, req, { token, mid, request, mobile }, merchant);
  }

  function sendWindow(
    reply: FastifyReply,
    req: FastifyRequest,
    s: { token: string; request: Record<string, string>; mobile: boolean; mid: string },
    merchant: SimMerchant,
    extra: { error?: string; keep?: Record<string, string>; status?: number } = {},
  ) {
    const r = s.request;
    const amount = Number(r.amt);
    const quotas = amount >= 50_000 ? parseQuotaFixed(r.quotaFixed) : [];
    const cardCompany = r.cardCode ? companyByTpayCode(r.cardCode) : undefined;
    const html = windowPage({
      lang: langOf(r),
      mobile: s.mobile,
      method: r.payMethod as WindowMethod,
      action: submitPath(req),
      txToken: s.token,
      merchantName: merchant.name,
      goodsName: r.goodsName ?? '',
      amount,
      quotas,
      vbankExpDate: r.vbankExpDate ?? kstDate8(clock.now() + DAY_MS),
      cardCompanyName: cardCompany?.tpayName ?? null,
      testCards: { approve: testCardNumber({ kftcCode: '366', lastFour: '4242' }), decline54: testCardNumber({ kftcCode: '366', lastFour: '0054' }) },
      error: extra.error,
      keep: extra.keep,
    });
    return reply.code(extra.status ?? 200).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  }

  /** The fields every result carries, with amt and moid encrypted under a fresh ediDate. */
  function resultBase(merchant: SimMerchant, r: Record<string, string>): Record<string, string> {
    const ediDate = kstTimestamp14(clock.now());
    return {
      payMethod: r.payMethod!,
      mid: merchant.mid,
      ediDate,
      amt: tpayEncrypt(r.amt!, ediDate, merchant.merchantKey),
      moid: tpayEncrypt(r.moid!, ediDate, merchant.merchantKey),
      goodsName: r.goodsName ?? '',
      buyerName: r.buyerName ?? '',
      buyerTel: r.buyerTel ?? '',
      buyerEmail: r.buyerEmail ?? '',
      mallUserId: r.mallUserId ?? '',
      mallReserved: r.mallReserved ?? '',
    };
  }

  function failureFields(f: TpayFailure): Record<string, string> {
    return { resultCd: f.resultCd, resultMsg: f.resultMsg, errorCd: f.errorCd ?? '', errorMsg: f.errorMsg ?? '' };
  }

  function baseTx(merchant: SimMerchant, r: Record<string, string>, tid: string): SimTransaction {
    return {
      tid,
      mid: merchant.mid,
      moid: r.moid!,
      method: 'window',
      cardToken: null,
      amount: Number(r.amt),
      cancelledAmount: 0,
      status: 'failed',
      resultCd: '',
      resultMsg: '',
      errorCd: null,
      errorMsg: null,
      appNo: null,
      cardNumMasked: '',
      tpayCardCode: '',
      cardType: 0,
      cardQuota: 0,
      goodsName: r.goodsName ?? '',
      createdAt: clock.now(),
      ...NO_WINDOW_FIELDS,
      payMethod: r.payMethod === 'CDBILLRG' ? 'CARD' : (r.payMethod as SimTransaction['payMethod']),
      transType: r.transType === '1' ? 1 : 0,
    };
  }

  type Outcome =
    | { kind: 'post'; fields: Record<string, string>; to: 'return' | 'cancel' }
    | { kind: 'again'; error: string; keep?: Record<string, string> }
    | { kind: 'pending' };

  const again = (error: string, keep?: Record<string, string>): Outcome => ({ kind: 'again', error, keep });

  function payCard(merchant: SimMerchant, r: Record<string, string>, body: Body, lang: Lang): Outcome {
    const en = lang === 'en';
    const pan = str(body, 'cardNo')?.replace(/[\s-]/g, '');
    const exp = str(body, 'cardExpiry')?.replace(/\s/g, '');
    const auth = str(body, 'buyerAuthNum');
    const pwd = str(body, 'cardPwd');
    const quotaRaw = str(body, 'cardQuota') ?? '00';
    const keep = { cardQuota: quotaRaw };
    if (!pan || !/^\d{13,19}$/.test(pan)) return again(en ? 'Enter the card number (13 to 19 digits).' : '카드번호를 정확히 입력해 주세요 (13~19자리).', keep);
    const m = exp ? /^(0[1-9]|1[0-2])\/?(\d{2})$/.exec(exp) : null;
    if (!m) return again(en ? 'Enter the expiry as MM/YY.' : '유효기간을 MM/YY 형식으로 입력해 주세요.', keep);
    if (!auth || !/^(\d{6}|\d{10})$/.test(auth)) return again(en ? 'Enter your date of birth (YYMMDD).' : '생년월일 6자리(또는 사업자번호 10자리)를 입력해 주세요.', keep);
    if (!pwd || !/^\d{2}$/.test(pwd)) return again(en ? 'Enter the first 2 digits of the card PIN.' : '카드 비밀번호 앞 2자리를 입력해 주세요.', keep);
    if (!/^\d{1,2}$/.test(quotaRaw)) return again(en ? 'Choose an installment option.' : '할부 기간을 선택해 주세요.', keep);
    const cardExp = `${m[2]}${m[1]}`;
    const facts = cardFacts(pan, o.overseasCards);
    const card = { masked: maskCardNumber(pan), company: company(facts.kftcCode), cardType: facts.cardType };
    const natural = validateCard({ cardNum: pan, cardExp, cardPwd: pwd, buyerAuthNum: auth }, clock.now());
    const overseas = facts.overseas ? OVERSEAS_REFUSED : null;
    const cardFields = { fnCd: card.company.tpayCode, fnName: card.company.tpayName, cardNo: card.masked, cardType: String(card.cardType) };

    if (r.payMethod === 'CDBILLRG') {
      const rule = lastFourRule(pan).issue;
      const refusal =
        natural ?? overseas ?? (rule.kind === 'decline' ? issuerDecline(rule.nn) : rule.kind === 'system_error' ? SYSTEM_ERROR : null);
      if (refusal) return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), ...failureFields(refusal), ...cardFields } };
      const cardToken = randomBytes(24).toString('base64url');
      ledger.insertBillingKey({
        cardToken,
        mid: merchant.mid,
        cardNumMasked: card.masked,
        tpayCardCode: card.company.tpayCode,
        cardType: card.cardType,
        cardExp,
        chargeRule: lastFourRule(pan).charge,
        createdAt: clock.now(),
        deletedAt: null,
        moid: r.moid ?? null,
        mallUserId: r.mallUserId || null,
      });
      return {
        kind: 'post',
        to: 'return',
        fields: { ...resultBase(merchant, r), resultCd: WINDOW_RESULT.billkeyIssued, resultMsg: '빌키 발급 성공', errorCd: '', errorMsg: '', cardToken, ...cardFields },
      };
    }

    const amount = Number(r.amt);
    const quota = Number(quotaRaw);
    if (ledger.approvedByMoid(merchant.mid, r.moid!)) {
      return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), ...failureFields({ resultCd: WINDOW_RESULT.duplicateMoid, resultMsg: '주문번호 중복 오류', errorCd: null, errorMsg: null }) } };
    }
    const offered = amount >= 50_000 ? parseQuotaFixed(r.quotaFixed) : [];
    const notOffered: TpayFailure | null =
      quota >= 2 && amount >= 50_000 && !offered.includes(quota)
        ? { resultCd: WINDOW_RESULT.quotaNotOffered, resultMsg: '할부개월오류 (가맹점이 허용하지 않은 할부개월)', errorCd: null, errorMsg: null }
        : null;
    const byCard = lastFourRule(pan).charge;
    const behaviour: Behaviour = byCard.kind === 'approve' ? amountTrigger(amount) : byCard;
    let refusal = natural ?? overseas ?? checkAmountAndQuota(amount, quota, o.minimumAmount) ?? notOffered;
    if (!refusal && behaviour.kind === 'decline') refusal = issuerDecline(behaviour.nn);
    if (!refusal && behaviour.kind === 'system_error') refusal = SYSTEM_ERROR;
    const tid = ledger.nextTid(merchant.mid);
    const tx: SimTransaction = {
      ...baseTx(merchant, r, tid),
      cardNumMasked: card.masked,
      tpayCardCode: card.company.tpayCode,
      cardType: card.cardType,
      cardQuota: quota,
    };
    if (refusal) {
      ledger.insertTransaction({ ...tx, resultCd: refusal.resultCd, resultMsg: refusal.resultMsg, errorCd: refusal.errorCd, errorMsg: refusal.errorMsg });
      return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), tid, ...failureFields(refusal), ...cardFields, cardQuota: String(quota).padStart(2, '0') } };
    }
    const appNo = approvalNumber(merchant.mid, r.moid!);
    ledger.insertTransaction({ ...tx, status: 'paid', resultCd: WINDOW_RESULT.cardOk, resultMsg: '카드 결제 성공', appNo });
    if (behaviour.kind === 'slow') return { kind: 'pending' };
    return {
      kind: 'post',
      to: 'return',
      fields: {
        ...resultBase(merchant, r),
        tid,
        resultCd: WINDOW_RESULT.cardOk,
        resultMsg: '카드 결제 성공',
        errorCd: '',
        errorMsg: '',
        authCode: appNo,
        authDate: kstTimestamp14(tx.createdAt).slice(2),
        stateCd: '0',
        ...cardFields,
        cardQuota: String(quota).padStart(2, '0'),
      },
    };
  }

  function payBank(merchant: SimMerchant, r: Record<string, string>, body: Body, lang: Lang): Outcome {
    const code = str(body, 'bankCode') ?? '';
    const bank = bankByCode(code);
    if (!bank) return again(lang === 'en' ? 'Choose a bank.' : '은행을 선택해 주세요.');
    if (ledger.approvedByMoid(merchant.mid, r.moid!)) {
      return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), ...failureFields({ resultCd: WINDOW_RESULT.duplicateMoid, resultMsg: '주문번호 중복 오류', errorCd: null, errorMsg: null }) } };
    }
    const tid = ledger.nextTid(merchant.mid);
    const tx: SimTransaction = { ...baseTx(merchant, r, tid), bankCode: bank.code };
    const bankFields = { fnCd: bank.code, fnName: bank.name };
    if (Number(r.amt) % 1000 === 954) {
      ledger.insertTransaction({ ...tx, resultCd: WINDOW_RESULT.bankDeclined, resultMsg: '잔액부족' });
      return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), tid, resultCd: WINDOW_RESULT.bankDeclined, resultMsg: '잔액부족', errorCd: '', errorMsg: '', ...bankFields } };
    }
    ledger.insertTransaction({ ...tx, status: 'paid', resultCd: WINDOW_RESULT.bankOk, resultMsg: '계좌이체 결제 성공' });
    return {
      kind: 'post',
      to: 'return',
      fields: {
        ...resultBase(merchant, r),
        tid,
        resultCd: WINDOW_RESULT.bankOk,
        resultMsg: '계좌이체 결제 성공',
        errorCd: '',
        errorMsg: '',
        authDate: kstTimestamp14(tx.createdAt).slice(2),
        stateCd: '0',
        ...bankFields,
      },
    };
  }

  function payVbank(merchant: SimMerchant, r: Record<string, string>, body: Body, lang: Lang): Outcome {
    const code = str(body, 'bankCode') ?? DEFAULT_VBANK_CODE;
    const bank = bankByCode(code);
    if (!bank?.vbank) return again(lang === 'en' ? 'Choose a bank that offers virtual accounts.' : '가상계좌를 발급할 은행을 선택해 주세요.');
    if (ledger.approvedByMoid(merchant.mid, r.moid!)) {
      return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), ...failureFields({ resultCd: WINDOW_RESULT.duplicateMoid, resultMsg: '주문번호 중복 오류', errorCd: null, errorMsg: null }) } };
    }
    const tid = ledger.nextTid(merchant.mid);
    const vbankNum = vbankNumber(merchant.mid, r.moid!, bank.code);
    const expDate = r.vbankExpDate ?? kstDate8(clock.now() + DAY_MS);
    const tx: SimTransaction = {
      ...baseTx(merchant, r, tid),
      status: 'ready',
      resultCd: WINDOW_RESULT.vbankIssued,
      resultMsg: '가상계좌 발급 성공',
      bankCode: bank.code,
      vbankNum,
      vbankHolder: merchant.name,
      vbankDueAt: endOfKstDay(expDate),
    };
    ledger.insertTransaction(tx);
    return {
      kind: 'post',
      to: 'return',
      fields: {
        ...resultBase(merchant, r),
        tid,
        resultCd: WINDOW_RESULT.vbankIssued,
        resultMsg: '가상계좌 발급 성공',
        errorCd: '',
        errorMsg: '',
        authDate: kstTimestamp14(tx.createdAt).slice(2),
        stateCd: '0',
        fnCd: bank.code,
        fnName: bank.name,
        vbankNum,
        vbankExpDate: expDate,
        vbankExpTime: '235959',
        vbankHolder: merchant.name,
      },
    };
  }

  function payPhone(merchant: SimMerchant, r: Record<string, string>, body: Body, lang: Lang): Outcome {
    const en = lang === 'en';
    const carrier = str(body, 'carrier') ?? '';
    const phone = (str(body, 'phoneNo') ?? '').replace(/[\s-]/g, '');
    const keep = { carrier, phoneNo: phone };
    if (!(CARRIERS as readonly string[]).includes(carrier)) return again(en ? 'Choose a carrier.' : '통신사를 선택해 주세요.', keep);
    if (!/^01\d{8,9}$/.test(phone)) return again(en ? 'Enter a mobile number such as 01012345678.' : '휴대폰 번호를 정확히 입력해 주세요 (예: 01012345678).', keep);
    if (str(body, 'otp') !== SANDBOX_OTP) return again(en ? 'The verification code is wrong.' : '인증번호가 일치하지 않습니다.', keep);
    if (ledger.approvedByMoid(merchant.mid, r.moid!)) {
      return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), ...failureFields({ resultCd: WINDOW_RESULT.duplicateMoid, resultMsg: '주문번호 중복 오류', errorCd: null, errorMsg: null }) } };
    }
    const tid = ledger.nextTid(merchant.mid);
    const tx: SimTransaction = { ...baseTx(merchant, r, tid), carrier, phoneMasked: maskPhone(phone) };
    if (phone.endsWith('0000')) {
      ledger.insertTransaction({ ...tx, resultCd: WINDOW_RESULT.phoneLimit, resultMsg: '휴대폰 결제 한도초과' });
      return { kind: 'post', to: 'return', fields: { ...resultBase(merchant, r), tid, resultCd: WINDOW_RESULT.phoneLimit, resultMsg: '휴대폰 결제 한도초과', errorCd: '', errorMsg: '', carrier } };
    }
    ledger.insertTransaction({ ...tx, status: 'paid', resultCd: WINDOW_RESULT.phoneOk, resultMsg: '휴대폰 결제 성공' });
    return {
      kind: 'post',
      to: 'return',
      fields: {
        ...resultBase(merchant, r),
        tid,
        resultCd: WINDOW_RESULT.phoneOk,
        resultMsg: '휴대폰 결제 성공',
        errorCd: '',
        errorMsg: '',
        authDate: kstTimestamp14(tx.createdAt).slice(2),
        stateCd: '0',
        carrier,
      },
    };
  }

  async function submit(req: FastifyRequest, reply: FastifyReply) {
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Body;
    const token = str(body, 'txToken');
    const session = token ? ledger.getWindowSession(token) : undefined;
    if (!session) return fail(reply, 'ko', 404, 'A130', '결제창 정보가 없습니다. 가맹점에서 다시 결제해 주세요.');
    const r = session.request;
    const lang = langOf(r);
    if (session.closedAt !== null) return fail(reply, lang, 409, 'A131', '이미 처리된 결제창입니다.');
    const merchant = ledger.getMerchant(session.mid);
    if (!merchant) return fail(reply, lang, 400, '2152', '미등록가맹점');
    if (clock.now() - session.createdAt > o.windowTtlMs) {
      return fail(reply, lang, 410, 'A132', '결제창 유효시간이 지났습니다. 가맹점에서 다시 결제해 주세요.');
    }
    const action = str(body, 'action') ?? 'pay';
    let outcome: Outcome;
    if (action === 'cancel') {
      outcome = {
        kind: 'post',
        to: 'cancel',
        fields: { ...resultBase(merchant, r), resultCd: WINDOW_RESULT.userCancel, resultMsg: '사용자가 결제를 취소하였습니다', errorCd: '', errorMsg: '' },
      };
    } else {
      const method = r.payMethod as WindowMethod;
      outcome =
        method === 'CARD' || method === 'CDBILLRG'
          ? payCard(merchant, r, body, lang)
          : method === 'BANK'
            ? payBank(merchant, r, body, lang)
            : method === 'VBANK'
              ? payVbank(merchant, r, body, lang)
              : payPhone(merchant, r, body, lang);
    }
    if (outcome.kind === 'again') {
      return sendWindow(reply, req, session, merchant, { error: outcome.error, keep: outcome.keep, status: 422 });
    }
    if (!ledger.closeWindowSession(session.token)) return fail(reply, lang, 409, 'A131', '이미 처리된 결제창입니다.');
    if (outcome.kind === 'pending') {
      return reply.type('text/html; charset=utf-8').send(pendingPage(lang, session.mobile));
    }
    req.log.info(
      { mid: merchant.mid, tid: outcome.fields.tid, payMethod: r.payMethod, resultCd: outcome.fields.resultCd, to: outcome.to },
      'tpay simulator: window result',
    );
    const to = outcome.to === 'cancel' ? r.cancelUrl! : r.returnUrl!;
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(autoPostPage(lang, session.mobile, to, outcome.fields));
  }

  app.post('/webTxInit', (req, reply) => webTxInit(req, reply, false));
  app.post('/mobile/webTxInit', (req, reply) => webTxInit(req, reply, true));
  app.post('/webTxInit/pay', submit);

  // tPay's result acknowledgement: `tid`, `result=000` (FACT). The JSON answer is OUR DESIGN.
  app.post('/resultConfirm', async (req) => {
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Body;
    const tid = str(body, 'tid');
    if (!tid) return { result_cd: 'A117', result_msg: '필수입력항목이 누락되었습니다 (tid)' };
    if (str(body, 'result') !== '000') return { result_cd: 'A212', result_msg: '잘못된 데이터 형식입니다 (result)' };
    const tx = ledger.confirm(tid);
    if (!tx) return { result_cd: '2012', result_msg: '해당거래 없음', tid };
    req.log.info({ tid, mid: tx.mid }, 'tpay simulator: result confirmed');
    return { result_cd: '0000', result_msg: '결과 확인 완료', tid, state: tx.status };
  });

  // ---- simulator-only: a buyer's deposit into an issued virtual account ----

  /** The deposit notice, to the URL registered for the MID at the time of the deposit (as NICE's webhooks go to the clientId's). */
  async function sendNotice(tx: SimTransaction, merchant: SimMerchant) {
    const url = merchant.noticeUrl;
    if (!url) return null;
    const now = clock.now();
    const fields: Record<string, string> = {
      payMethod: 'VBANK',
      mid: tx.mid,
      tid: tx.tid,
      moid: tx.moid,
      amt: String(tx.amount),
      resultCd: WINDOW_RESULT.depositNotice,
      resultMsg: '가상계좌 입금 완료',
      depositDate: kstTimestamp14(tx.depositedAt ?? now),
      depositorName: tx.depositorName ?? '',
      vbankCode: tx.bankCode ?? '',
      vbankNum: tx.vbankNum ?? '',
      ediDate: kstTimestamp14(now),
    };
    fields.signature = depositNoticeSignature(merchant.merchantKey, fields);
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: new URLSearchParams(fields).toString(),
        headersTimeout: o.noticeTimeoutMs,
        bodyTimeout: o.noticeTimeoutMs,
      });
      const text = await res.body.text();
      return { url, delivered: res.statusCode >= 200 && res.statusCode < 300, status: res.statusCode, body: text.slice(0, 500) };
    } catch (err) {
      return { url, delivered: false, status: null, error: err instanceof Error ? err.message : String(err) };
    }
  }

  app.post('/__control/vbank/deposit', async (req, reply) => {
    const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const s = (k: string) => (typeof b[k] === 'string' && (b[k] as string).trim() !== '' ? (b[k] as string).trim() : typeof b[k] === 'number' ? String(b[k]) : undefined);
    const tid = s('tid');
    const moid = s('moid');
    if (!tid && !moid) return reply.code(400).send({ error: 'tid or moid is required' });
    const amountRaw = s('amount');
    if (!amountRaw || !/^\d{1,12}$/.test(amountRaw)) return reply.code(400).send({ error: 'amount (KRW, integer) is required' });
    const [tx] = ledger.findVbank({ tid, moid, mid: s('mid') });
    if (!tx) return reply.code(404).send({ error: 'no virtual account issued for that tid/moid' });
    if (b.closedAccount === true) {
      // A fault of the PG's, on request only: the bank takes a transfer into an account tPay had
      // closed (revoked, never paid into), the close not having reached it, and tPay's books then
      // hold the deposit (the account paid, its close undone) and notify it, signed like any deposit
      // (decision 0124). Amount and deadline are not checked: the close is what failed.
      if (tx.status !== 'cancelled' || tx.depositedAt !== null) return reply.code(409).send({ error: `the virtual account was not closed unpaid (status ${tx.status})`, tid: tx.tid });
      const paid = ledger.recordDepositIntoClosed(tx.tid, s('depositorName') ?? null);
      req.log.warn({ tid: tx.tid, mid: tx.mid }, 'tpay simulator: vbank deposit into a closed account (fault on request)');
      const notice = await sendNotice(paid, ledger.getMerchant(tx.mid)!);
      return reply.code(200).send({ tid: paid.tid, moid: paid.moid, status: paid.status, amount: paid.amount, depositedAt: paid.depositedAt, notice });
    }
    if (tx.status !== 'ready') return reply.code(409).send({ error: `the virtual account is not awaiting a deposit (status ${tx.status})`, tid: tx.tid });
    if (Number(amountRaw) !== tx.amount) {
      return reply.code(400).send({ error: `입금액 불일치: ${amountRaw}원 입금, ${tx.amount}원 필요 (wrong amount)`, tid: tx.tid });
    }
    if (tx.vbankDueAt !== null && clock.now() > tx.vbankDueAt) {
      return reply.code(400).send({ error: `입금기한 경과: ${kstTimestamp14(tx.vbankDueAt)} KST (past the due date)`, tid: tx.tid });
    }
    const merchant = ledger.getMerchant(tx.mid)!;
    const paid = ledger.recordDeposit(tx.tid, s('depositorName') ?? null);
    req.log.info({ tid: tx.tid, mid: tx.mid }, 'tpay simulator: vbank deposit');
    const notice = await sendNotice(paid, merchant);
    return reply.code(200).send({ tid: paid.tid, moid: paid.moid, status: paid.status, amount: paid.amount, depositedAt: paid.depositedAt, notice });
  });

  /**
   * tPay's merchant admin, simulated: the URL this MID's deposit notices go to (`url`: null or absent
   * removes it). OUR DESIGN; tPay's admin menu for it is UNCONFIRMED.
   */
  app.post('/__control/notify-url', async (req, reply) => {
    const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const mid = typeof b.mid === 'string' ? b.mid.trim() : '';
    const url = typeof b.url === 'string' && b.url.trim() !== '' ? b.url.trim() : null;
    if (!mid) return reply.code(400).send({ error: 'mid is required' });
    if (url !== null && !isHttpUrl(url)) return reply.code(400).send({ error: 'url must be an absolute http(s) URL' });
    if (!ledger.setNoticeUrl(mid, url)) return reply.code(404).send({ error: `no merchant ${mid}` });
    req.log.info({ mid, url }, 'tpay simulator: deposit notice URL set');
    return { mid, url };
  });

  app.get('/__control/notify-url', async (req, reply) => {
    const mid = ((req.query ?? {}) as Record<string, string | undefined>).mid ?? '';
    const merchant = ledger.getMerchant(mid);
    if (!merchant) return reply.code(404).send({ error: `no merchant ${mid}` });
    return { mid, url: merchant.noticeUrl ?? null };
  });

  /** Sends the deposit notice of a paid virtual account again (e.g. after the merchant was down). */
  app.post('/__control/vbank/notify', async (req, reply) => {
    const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const tid = typeof b.tid === 'string' ? b.tid : undefined;
    const [tx] = tid ? ledger.findVbank({ tid }) : [];
    if (!tx || tx.status !== 'paid') return reply.code(404).send({ error: 'no deposited virtual account with that tid' });
    return reply.send({ tid: tx.tid, notice: await sendNotice(tx, ledger.getMerchant(tx.mid)!) });
  });

}
