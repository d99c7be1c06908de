/**
 * tPay's payment window (webTxInit), the merchant's side: pure builders and mappers, no I/O.
 * Protocol (spec §2.1) and every OUR DESIGN field: docs/simulator.md, "Payment window".
 */
import { kstDate8, kstTimestamp14 } from '../../lib/clock.js';
import {
  ConnectorError,
  type ChannelCredentials,
  type DepositNotice,
  type WindowForm,
  type WindowPayMethod,
  type WindowRequest,
  type WindowResult,
} from '../types.js';
import { KFTC_BANKS, kstTimestampToUnix, mapTpayCardCode, timeFromTid, TPAY_TO_KFTC } from './transformers.js';
import { depositNoticeSignature, sameText, tpayDecrypt, tpayEncrypt } from './window-crypto.js';

/** Window result codes. `3001` and `4000` are FACT (spec §2.1); the rest ANALOGUE (NICE) or OUR DESIGN. */
export const TPAY_WINDOW = {
  cardOk: '3001',
  bankOk: '4000',
  vbankIssued: '4100',
  phoneOk: 'A000',
  billkeyIssued: 'F100',
  userCancel: 'U001',
  depositNotice: '4110',
} as const;

/** tPay's `payMethod` for each V1 pay method; billing windows use `CDBILLRG` (spec §2.1). */
const PAY_METHOD: Record<WindowPayMethod, string> = { card: 'CARD', trans: 'BANK', vbank: 'VBANK', phone: 'CELLPHONE' };

export { KFTC_BANKS };

export interface WindowUrls {
  /** PC window, e.g. `https://webtx.tpay.co.kr/webTxInit` */
  pc: string;
  /** mobile window (tPay: the mtx host; the simulator: `/mobile/webTxInit`) */
  mobile: string;
}

const DAY_MS = 86_400_000;

/** tPay 2-digit card company code for a KFTC code, if the table has one. */
function tpayCardCodeOf(kftc: string): string | undefined {
  return Object.entries(TPAY_TO_KFTC).find(([, v]) => v.code === kftc)?.[0];
}

/**
 * The webTxInit form. `ediDate` is the connector's clock in KST; `encryptData` = enc(amt+mid+moid).
 * OUR DESIGN fields: `language` (`KO`/`EN`), `quotaFixed` as a `00:02:03` list of the months
 * offered (`00` = lump sum only), `cardCode` (tPay code, shown only). No notice URL: deposit notices
 * go where the MID's tPay settings say (the channel's notify URL, registered there: decision 0086).
 */
export function toWebTxInitForm(channel: ChannelCredentials, req: WindowRequest, urls: WindowUrls, nowMs: number): Extract<WindowForm, { kind: 'form' }> {
  if (req.billing && req.payMethod !== 'card') throw new TypeError('tPay issues billing keys in the window for cards only');
  const merchantKey = channel.merchantKey.reveal();
  const ediDate = kstTimestamp14(nowMs);
  const amt = String(req.amount);
  const fields: Record<string, string> = {
    payMethod: req.billing ? 'CDBILLRG' : PAY_METHOD[req.payMethod],
    transType: '0',
    goodsName: req.goodsName,
    amt,
    moid: req.moid,
    mid: channel.mid,
    buyerName: req.buyer.name ?? '',
    buyerTel: req.buyer.tel ?? '',
    buyerEmail: req.buyer.email ?? '',
    buyerAddr: req.buyer.addr ?? '',
    buyerPostNo: req.buyer.postcode ?? '',
    mallUserId: req.mallUserId ?? '',
    mallReserved: '',
    payType: '1',
    paymentType: '1',
    connType: req.mobile ? '1' : '0',
    ediDate,
    encryptData: tpayEncrypt(`${amt}${channel.mid}${req.moid}`, ediDate, merchantKey),
    returnUrl: req.returnUrl,
    cancelUrl: req.cancelUrl,
    language: req.language === 'en' ? 'EN' : 'KO',
  };
  if (req.payMethod === 'card' && !req.billing) {
    const months = [...new Set(req.cardQuotas.filter((m) => Number.isInteger(m) && m >= 2 && m <= 36))].sort((a, b) => a - b);
    fields.quotaFixed = ['00', ...months.map((m) => String(m).padStart(2, '0'))].join(':');
  }
  if (req.payMethod === 'card' && req.cardCode) {
    const code = tpayCardCodeOf(req.cardCode);
    if (code) fields.cardCode = code;
  }
  if (req.payMethod === 'vbank') fields.vbankExpDate = kstDate8(req.vbankDueMs ?? nowMs + DAY_MS);
  return { kind: 'form', action: req.mobile ? urls.mobile : urls.pc, method: 'POST', fields };
}

function tampered(message: string): ConnectorError {
  return new ConnectorError('bad_response', `tPay window result rejected: ${message}`, false, false);
}

/** `authDate` as tPay sends it (yyMMddHHmmss, or YYYYMMDDHHmmss) → UNIX seconds. */
function authDateToUnix(raw: string): number | null {
  if (/^\d{12}$/.test(raw)) return kstTimestampToUnix(`20${raw}`);
  return kstTimestampToUnix(raw);
}

function int(raw: string): number | null {
  if (!/^\d{1,12}$/.test(raw)) return null;
  return Number(raw);
}

/**
 * Verifies a result posted to returnUrl / cancelUrl and maps it. The decrypted `amt` and `moid` must
 * equal what Pier expects, else ConnectorError('bad_response', not in doubt): the post is forged or
 * belongs to another attempt. NOTE: tPay protects only amt and moid; `resultCd` itself is not
 * signed, so an approval should be checked against the PG (trans_search) before money is trusted.
 */
export function fromWindowResult(channel: ChannelCredentials, posted: Record<string, string>, expected: { moid: string; amount: number }): WindowResult {
  const p = (k: string) => (typeof posted[k] === 'string' ? posted[k]!.trim() : '');
  const merchantKey = channel.merchantKey.reveal();
  const resultCd = p('resultCd');
  if (!resultCd) throw tampered('no resultCd');
  if (p('mid') && p('mid') !== channel.mid) throw tampered(`mid ${p('mid')} is not this channel's`);
  const isCancel = resultCd === TPAY_WINDOW.userCancel;
  if (!isCancel || p('amt') || p('moid')) {
    const ediDate = p('ediDate');
    if (!/^\d{14}$/.test(ediDate)) throw tampered('ediDate missing or malformed');
    const amt = tpayDecrypt(p('amt'), ediDate, merchantKey);
    const moid = tpayDecrypt(p('moid'), ediDate, merchantKey);
    if (amt === null || moid === null) throw tampered('amt or moid does not decrypt with this merchant key');
    if (moid !== expected.moid) throw tampered(`moid ${moid} is not the expected ${expected.moid}`);
    if (amt !== String(expected.amount)) throw tampered(`amount ${amt} is not the expected ${expected.amount}`);
  }
  if (isCancel) return { outcome: 'cancelled_by_buyer', code: resultCd, message: p('resultMsg') || '사용자 취소' };

  const tid = p('tid');
  const paidAt = (authDateToUnix(p('authDate')) ?? (tid ? timeFromTid(tid, channel.mid) : null)) || 0;
  const none = { cardCode: null, cardName: null, cardNumberMasked: null, cardType: null } as const;
  const approvedBase = { outcome: 'approved' as const, pgTid: tid, paidAt, receiptUrl: null };
  const needTid = () => {
    // an approval whose tid was lost may still have moved money: in doubt
    if (!tid) throw new ConnectorError('bad_response', `tPay window approval ${resultCd} without a tid`, true, false);
  };
  const cardType = (raw: string) => (raw === '1' ? 1 : raw === '0' ? 0 : null);

  switch (resultCd) {
    case TPAY_WINDOW.cardOk:
      needTid();
      return {
        ...approvedBase,
        applyNum: p('authCode') || null,
        cardQuota: int(p('cardQuota')) ?? 0,
        bankCode: null,
        bankName: null,
        ...mapTpayCardCode(p('fnCd') || undefined, p('fnName') || undefined),
        cardNumberMasked: p('cardNo') || null,
        cardType: cardType(p('cardType')),
      };
    case TPAY_WINDOW.bankOk: {
      needTid();
      const code = p('fnCd') || null;
      return { ...approvedBase, applyNum: null, cardQuota: 0, bankCode: code, bankName: (code && KFTC_BANKS[code]) || p('fnName') || null, ...none };
    }
    case TPAY_WINDOW.phoneOk:
      needTid();
      return { ...approvedBase, applyNum: null, cardQuota: 0, bankCode: null, bankName: null, ...none };
    case TPAY_WINDOW.vbankIssued: {
      needTid();
      const code = p('fnCd');
      const due = p('vbankExpDate');
      const dueTime = p('vbankExpTime') || '235959';
      const vbankDate = /^\d{8}$/.test(due) && /^\d{6}$/.test(dueTime) ? kstTimestampToUnix(`${due}${dueTime}`) : null;
      if (!code || !p('vbankNum') || vbankDate === null) throw new ConnectorError('bad_response', 'tPay virtual account without bank, number or due date', true, false);
      return {
        outcome: 'vbank_issued',
        pgTid: tid,
        vbankCode: code,
        vbankName: KFTC_BANKS[code] ?? (p('fnName') || code),
        vbankNum: p('vbankNum'),
        vbankHolder: p('vbankHolder') || null,
        vbankDate,
        issuedAt: paidAt,
      };
    }
    case TPAY_WINDOW.billkeyIssued: {
      const token = p('cardToken');
      if (!token) throw new ConnectorError('bad_response', 'tPay billing-key result without cardToken', false, false);
      return {
        outcome: 'billing_key_issued',
        billingKey: token,
        ...mapTpayCardCode(p('fnCd') || undefined, p('fnName') || undefined),
        cardNumberMasked: p('cardNo') || null,
        cardType: cardType(p('cardType')),
      };
    }
    default:
      return {
        outcome: 'declined',
        code: p('errorCd') || resultCd,
        message: p('errorMsg') || p('resultMsg'),
        pgTid: tid || null,
      };
  }
}

/** Verifies (HMAC `signature`, OUR DESIGN) and maps a virtual-account deposit notice. */
export function fromDepositNotice(channel: ChannelCredentials, posted: Record<string, string>): DepositNotice {
  const p = (k: string) => (typeof posted[k] === 'string' ? posted[k]! : '');
  const bad = (m: string) => new ConnectorError('bad_response', `tPay deposit notice rejected: ${m}`, false, false);
  if (p('mid') !== channel.mid) throw bad(`mid ${p('mid')} is not this channel's`);
  const expected = depositNoticeSignature(channel.merchantKey.reveal(), posted);
  if (!sameText(p('signature').toLowerCase(), expected)) throw bad('signature does not match');
  if (p('resultCd') !== TPAY_WINDOW.depositNotice) throw bad(`resultCd ${p('resultCd')} is not a deposit`);
  const amount = int(p('amt'));
  const depositedAt = kstTimestampToUnix(p('depositDate'));
  if (amount === null || depositedAt === null || !p('tid') || !p('moid')) throw bad('amt, depositDate, tid or moid missing');
  return { moid: p('moid'), pgTid: p('tid'), amount, depositedAt, depositorName: p('depositorName') || null };
}

/** The string fields of a posted form (tPay posts form fields only; anything else is ignored). */
export function stringFields(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  return out;
}
