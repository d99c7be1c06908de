/**
 * Validation of `AUTHNICE.requestPay` parameters (spec §1.3) with the P-codes of spec §1.3/§8.9.
 * Used twice with the same rules: by the SDK before it opens the window (errors go to `fnError`) and
 * by the window page itself (a tampered form gets an error page). Values are compared as text, since
 * the window receives them as form fields.
 */
import type { NiceFailure } from './card-rules.js';
import { WINDOW_METHODS, type WindowMethod } from './protocol.js';

/** The requestPay parameters as text: booleans `true`/`false`, numbers as digits. */
export type WindowParams = Record<string, string>;

/** JSON params (from the SDK) or form fields (the window) to text; functions and objects are dropped. */
export function paramsAsText(raw: Record<string, unknown>): WindowParams {
  const out: WindowParams = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'string') out[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
  }
  return out;
}

const MAX_LENGTH: Readonly<Record<string, number>> = {
  clientId: 50,
  method: 20,
  orderId: 64,
  goodsName: 40,
  returnUrl: 500,
  mallReserved: 500,
  mallUserId: 20,
  buyerName: 30,
  buyerTel: 40,
  buyerEmail: 60,
  vbankHolder: 40,
  cardQuota: 100,
  cardCode: 100,
  logoImgUrl: 100,
};
const BOOLEANS = ['useEscrow', 'isDigital', 'disableScroll', 'disableEdgeChk', 'zIdxHigher'];
export const INSTALLMENT_MINIMUM = 50_000;

const fail = (resultCode: string, resultMsg: string): NiceFailure => ({ resultCode, resultMsg, messageSource: 'nicepay' });

export const isWindowMethod = (m: string): m is WindowMethod => Object.hasOwn(WINDOW_METHODS, m);

/** The first problem with the parameters, or null when the window can open. */
export function validateWindowParams(p: WindowParams): NiceFailure | null {
  for (const name of ['clientId', 'method', 'orderId', 'amount', 'goodsName', 'returnUrl']) {
    if (!p[name]) return fail('P007', `필수 파라미터 누락(${name})`);
  }
  for (const [name, max] of Object.entries(MAX_LENGTH)) {
    // NICE's limits are bytes (the manual's "Byte" column); counted in UTF-8, the strictest reading (decision 0133)
    if (p[name] !== undefined && Buffer.byteLength(p[name], 'utf8') > max) return fail('P009', `파라미터 길이 초과(${name})`);
  }
  if (!/^\d{1,12}$/.test(p.amount!)) return fail('P010', '숫자가 아닌 값이 입력되었습니다(amount)');
  const amount = Number(p.amount);
  if (amount === 0) return fail('P017', '결제금액이 0원입니다.');
  if (!isWindowMethod(p.method!)) return fail('P012', `허용되지 않는 값입니다(method: ${p.method})`);
  if (!/^https?:\/\/[^\s]+$/i.test(p.returnUrl!)) return fail('P012', '허용되지 않는 값입니다(returnUrl)');
  if (p.mallReserved?.includes('"')) return fail('P012', '허용되지 않는 값입니다(mallReserved: 큰따옴표 불가)');
  if (p.buyerTel && !/^\d+$/.test(p.buyerTel)) return fail('P010', '숫자가 아닌 값이 입력되었습니다(buyerTel)');
  for (const name of BOOLEANS) {
    if (p[name] !== undefined && p[name] !== 'true' && p[name] !== 'false') return fail('P011', `boolean 값이 아닙니다(${name})`);
  }
  if (p.language && !['KO', 'EN', 'CN'].includes(p.language.toUpperCase())) return fail('P012', '허용되지 않는 값입니다(language)');
  if (p.currency && !['KRW', 'USD', 'CNY'].includes(p.currency)) return fail('P012', '허용되지 않는 값입니다(currency)');
  if (p.taxFreeAmt !== undefined) {
    if (!/^\d{1,12}$/.test(p.taxFreeAmt)) return fail('P010', '숫자가 아닌 값이 입력되었습니다(taxFreeAmt)');
    if (Number(p.taxFreeAmt) > amount) return fail('P036', '면세금액이 결제금액보다 큽니다.');
  }
  if (p.cardQuota !== undefined && p.cardQuota !== '') {
    if (!/^\d{2}(,\d{2})*$/.test(p.cardQuota)) return fail('P028', '일시불은 00으로 설정해야 합니다(cardQuota)');
    if (amount < INSTALLMENT_MINIMUM && p.cardQuota.split(',').some((q) => q !== '00')) return fail('P037', '5만원 미만은 할부가 불가능합니다.');
  }
  if (p.method === 'vbank') {
    if (!p.vbankHolder) return fail('P007', '필수 파라미터 누락(vbankHolder)');
    if (p.vbankValidHours !== undefined && !/^\d{1,4}$/.test(p.vbankValidHours)) return fail('P010', '숫자가 아닌 값이 입력되었습니다(vbankValidHours)');
    if (p.vbankValidHours === '0') return fail('P031', '가상계좌 유효기간 오류');
    if (p.vbankExpDate && !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{3})?)?([+-]\d{2}:?\d{2})?)?$/.test(p.vbankExpDate)) {
      return fail('U330', 'vbankExpDate 형식 오류');
    }
  }
  if (p.method === 'cellphone' && p.isDigital === undefined) return fail('P007', '필수 파라미터 누락(isDigital)');
  // escrow for card, bank and vbank only (PortOne's nice_v2 list, spec §0.9; the phone refusal is OUR DESIGN)
  if (p.useEscrow === 'true' && p.method === 'cellphone') return fail('U331', '에스크로를 사용할 수 없는 결제수단입니다.');
  return null;
}

/** Installment months the window offers: `cardQuota` (or 2–12) when the amount allows installments, always lump sum. */
export function offeredQuotas(p: WindowParams): number[] {
  const amount = Number(p.amount);
  if (amount < INSTALLMENT_MINIMUM) return [0];
  const listed = p.cardQuota ? p.cardQuota.split(',').map(Number) : [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  return [...new Set([0, ...listed.filter((q) => q !== 1)])].sort((a, b) => a - b);
}
