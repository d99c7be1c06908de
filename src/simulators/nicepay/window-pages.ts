/**
 * Server-rendered pages of the NICEPAY simulator's payment window: one form per method, Korean by
 * default and English with `language=EN`. Element ids are the contract with browser tests
 * (docs/simulator-nicepay.md, "Window").
 */
import { SIM_BANKS, VBANK_BANKS } from '../shared/banks.js';
import { esc, hiddenInputs } from '../shared/html.js';
import type { WindowMethod } from './protocol.js';

export type Lang = 'ko' | 'en';
export const CARRIERS = ['SKT', 'KT', 'LGU+'] as const;

const T = {
  ko: {
    title: { card: '신용카드', bank: '계좌이체', vbank: '가상계좌', cellphone: '휴대폰' } as Record<WindowMethod, string>,
    goods: '상품명',
    amount: '결제금액',
    won: '원',
    sandbox: 'NICEPAY 시뮬레이터의 테스트 결제창입니다. 실제 결제는 일어나지 않습니다.',
    cardNo: '카드번호',
    expiry: '유효기간 (MM/YY)',
    quota: '할부',
    lump: '일시불',
    months: (n: number) => `${n}개월`,
    bank: '은행 선택',
    vbankBank: '입금 은행',
    holder: '예금주',
    carrier: '통신사',
    phone: '휴대폰 번호',
    pay: '결제하기',
    cancel: '취소',
    issued: '가상계좌가 발급되었습니다',
    account: '계좌번호',
    due: '입금기한',
    confirm: '확인',
    errorTitle: '결제 요청 오류',
  },
  en: {
    title: { card: 'Credit card', bank: 'Bank transfer', vbank: 'Virtual account', cellphone: 'Mobile phone' } as Record<WindowMethod, string>,
    goods: 'Item',
    amount: 'Amount',
    won: ' KRW',
    sandbox: 'Test payment window of the NICEPAY simulator. No money moves.',
    cardNo: 'Card number',
    expiry: 'Expiry (MM/YY)',
    quota: 'Installments',
    lump: 'Pay in full',
    months: (n: number) => `${n} months`,
    bank: 'Bank',
    vbankBank: 'Bank to deposit into',
    holder: 'Account holder',
    carrier: 'Carrier',
    phone: 'Mobile number',
    pay: 'Pay',
    cancel: 'Cancel',
    issued: 'Your virtual account is ready',
    account: 'Account number',
    due: 'Deposit by',
    confirm: 'OK',
    errorTitle: 'Payment request error',
  },
} as const;

export const langOf = (language: string | undefined): Lang => (language?.toUpperCase() === 'EN' ? 'en' : 'ko');

const won = (n: number, lang: Lang) => `${String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${T[lang].won}`;

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,"Apple SD Gothic Neo","Malgun Gothic",sans-serif;color:#1f2328;background:#eef1f5}
.win{background:#fff;max-width:660px;margin:24px auto;border-radius:8px;box-shadow:0 2px 12px rgba(0,0,0,.12)}
@media (max-width:680px){.win{margin:0;border-radius:0;box-shadow:none;min-height:100vh}}
header{background:#1a3d8f;color:#fff;padding:12px 18px;display:flex;gap:10px;align-items:center;border-radius:8px 8px 0 0}
header .logo{font-weight:800;letter-spacing:-.5px}header h1{font-size:16px;margin:0}
.body{padding:14px 18px}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;background:#f6f8fa;padding:10px 12px;border-radius:6px;margin:0 0 10px}
dt{color:#57606a}dd{margin:0;text-align:right}
.sandbox{font-size:13px;background:#fff8c5;border:1px solid #eed888;padding:6px 10px;border-radius:6px}
.error{color:#82071e;background:#ffebe9;border:1px solid #ff8182;padding:8px 10px;border-radius:6px}
.field{margin:10px 0}label{display:block;font-weight:600;margin-bottom:4px}
input,select{width:100%;font:inherit;padding:9px 10px;border:1px solid #8c959f;border-radius:6px}
.actions{display:flex;gap:10px;margin-top:14px}.actions button{flex:1;font:inherit;font-weight:700;padding:12px;border-radius:6px;border:1px solid #8c959f}
.primary{background:#1a3d8f;color:#fff;border-color:#1a3d8f}
`;

function page(lang: Lang, title: string, inner: string): string {
  return `<!doctype html>
<html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>NICEPAY ${esc(title)}</title><style>${CSS}</style></head>
<body><main class="win"><header><span class="logo" aria-hidden="true">NICEPAY</span><h1 id="title">${esc(title)}</h1></header>
<div class="body">${inner}</div></main></body></html>`;
}

export interface WindowView {
  token: string;
  method: WindowMethod;
  lang: Lang;
  goodsName: string;
  amount: number;
  quotas: number[];
  error?: string;
}

function methodFields(v: WindowView): string {
  const t = T[v.lang];
  const options = (banks: typeof SIM_BANKS) =>
    banks.map((b) => `<option value="${b.code}">${esc(v.lang === 'en' ? b.en : b.name)}</option>`).join('');
  switch (v.method) {
    case 'card':
      return `<div class="field"><label for="cardNo">${t.cardNo}</label><input id="cardNo" name="cardNo" inputmode="numeric" autocomplete="cc-number" required></div>
<div class="field"><label for="cardExpiry">${t.expiry}</label><input id="cardExpiry" name="cardExpiry" placeholder="MM/YY" autocomplete="cc-exp" required></div>
<div class="field"><label for="cardQuota">${t.quota}</label><select id="cardQuota" name="cardQuota">${v.quotas
        .map((q) => `<option value="${q}">${q === 0 ? t.lump : t.months(q)}</option>`)
        .join('')}</select></div>`;
    case 'bank':
      return `<div class="field"><label for="bankCode">${t.bank}</label><select id="bankCode" name="bankCode">${options(SIM_BANKS)}</select></div>`;
    case 'vbank':
      return `<div class="field"><label for="vbankCode">${t.vbankBank}</label><select id="vbankCode" name="vbankCode">${options(VBANK_BANKS)}</select></div>`;
    case 'cellphone':
      return `<div class="field"><label for="carrier">${t.carrier}</label><select id="carrier" name="carrier">${CARRIERS.map(
        (c) => `<option value="${esc(c)}">${esc(c)}</option>`,
      ).join('')}</select></div>
<div class="field"><label for="phone">${t.phone}</label><input id="phone" name="phone" inputmode="numeric" autocomplete="tel" required></div>`;
  }
}

/** The window's form for the buyer: method fields, pay and cancel. */
export function windowPage(v: WindowView): string {
  const t = T[v.lang];
  return page(
    v.lang,
    t.title[v.method],
    `<p class="sandbox">${t.sandbox}</p>
<dl><dt>${t.goods}</dt><dd>${esc(v.goodsName)}</dd><dt>${t.amount}</dt><dd id="amount">${won(v.amount, v.lang)}</dd></dl>
${v.error ? `<p class="error" id="error" role="alert">${esc(v.error)}</p>` : ''}
<form id="payForm" method="POST" action="/v1/pay/${esc(v.token)}/submit">
${methodFields(v)}
<div class="actions"><button type="submit" id="cancelBtn" formaction="/v1/pay/${esc(v.token)}/cancel" formnovalidate>${t.cancel}</button>
<button type="submit" id="payBtn" class="primary">${t.pay}</button></div>
</form>`,
  );
}

/** The issued virtual account; "OK" hands the result to the shop. */
export function vbankIssuedPage(lang: Lang, v: { bankName: string; number: string; holder: string; due: string; amount: number }, resultForm: string): string {
  const t = T[lang];
  return page(
    lang,
    t.issued,
    `<dl><dt>${t.vbankBank}</dt><dd id="vbankName">${esc(v.bankName)}</dd><dt>${t.account}</dt><dd id="vbankNumber">${esc(v.number)}</dd>
<dt>${t.holder}</dt><dd>${esc(v.holder)}</dd><dt>${t.amount}</dt><dd>${won(v.amount, lang)}</dd><dt>${t.due}</dt><dd id="vbankDue">${esc(v.due)}</dd></dl>
${resultForm}`,
  );
}

export function windowErrorPage(lang: Lang, code: string, message: string): string {
  return page(lang, T[lang].errorTitle, `<p class="error" id="error" role="alert"><span id="errorCode">${esc(code)}</span> ${esc(message)}</p>`);
}

/** The hidden form that carries the result to the shop's `returnUrl` (submitted by the confirm button). */
export function resultForm(action: string, fields: Record<string, string>, lang: Lang): string {
  return `<form id="result" method="POST" action="${esc(action)}" accept-charset="utf-8">
${hiddenInputs(fields)}
<div class="actions"><button type="submit" id="confirmBtn" class="primary">${T[lang].confirm}</button></div></form>`;
}
