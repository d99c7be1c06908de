/**
 * Server-rendered pages of Pier's hosted checkout (web/checkout/ holds their CSS and JS).
 * Korean by default, English with request_pay's `language: 'en'`.
 */
import { CARD_NAMES_EN, type StandardCode } from '../../domain/codes.js';
import type { CheckoutParams } from '../../core/checkout/params.js';
import type { Rsp } from '../../core/checkout/sessions.js';
import type { WindowForm } from '../../connectors/types.js';

export type Lang = 'ko' | 'en';

const T = {
  ko: {
    title: '결제하기',
    close: '결제창 닫기',
    merchant: '판매자',
    order: '주문명',
    amount: '결제금액',
    sandbox: '테스트 결제 — 실제로 청구되지 않습니다',
    method: '결제수단',
    methods: { card: '신용카드', trans: '실시간 계좌이체', vbank: '가상계좌', phone: '휴대폰 소액결제' },
    chooseCard: '카드사 선택',
    quota: '할부기간',
    lump: '일시불',
    months: (n: number) => `${n}개월`,
    quotaHint: '할부는 50,000원 이상 결제 시 선택할 수 있습니다.',
    quotaWhere: '(카드 정보 입력 화면에서 선택)',
    quotaLumpOnly: '이 상점은 일시불 결제만 가능합니다.',
    transHint: '다음 화면에서 출금할 은행을 선택합니다.',
    vbankHint: '다음 화면에서 입금할 은행을 선택하면 가상계좌가 발급됩니다. 입금기한 내에 입금해 주세요.',
    phoneHint: '다음 화면에서 통신사와 휴대폰 번호를 입력하고 인증번호를 확인합니다.',
    billingHint: '정기결제에 사용할 카드를 등록합니다.',
    billingOnly: '카드 등록만 진행되며 결제되지 않습니다.',
    agree: '결제 진행 및 개인정보 제3자 제공에 동의합니다.',
    pay: (a: string) => `${a} 결제하기`,
    register: '카드 등록하기',
    cancel: '취소',
    errorTitle: '확인해 주세요',
    toPg: 'PG 결제창으로 이동하고 있습니다…',
    closing: '결제를 닫고 있습니다…',
    continue: '계속',
    doneOk: '결제가 완료되었습니다.',
    doneReady: '가상계좌가 발급되었습니다.',
    doneFail: '결제가 완료되지 않았습니다.',
    back: '상점으로 돌아가기',
    confirm: '확인',
    vbank: '입금계좌',
    due: '입금기한',
    won: (n: number) => `${n.toLocaleString('ko-KR')}원`,
    missing: '결제 세션을 찾을 수 없습니다. 상점 페이지에서 다시 시도해 주세요.',
  },
  en: {
    title: 'Checkout',
    close: 'Close the payment window',
    merchant: 'Merchant',
    order: 'Order',
    amount: 'Amount',
    sandbox: 'Test payment — nothing is charged',
    method: 'Payment method',
    methods: { card: 'Credit card', trans: 'Bank transfer', vbank: 'Virtual account', phone: 'Mobile phone' },
    chooseCard: 'Card company',
    quota: 'Installments',
    lump: 'Pay in full',
    months: (n: number) => `${n} months`,
    quotaHint: 'Installments are available from 50,000 KRW.',
    quotaWhere: '(chosen with the card details)',
    quotaLumpOnly: 'This shop accepts payment in full only.',
    transHint: 'Choose your bank on the next screen.',
    vbankHint: 'Choose a bank on the next screen to get a virtual account. Deposit before the deadline.',
    phoneHint: 'Enter your carrier and phone number on the next screen, then the one-time code.',
    billingHint: 'Register a card for recurring payments.',
    billingOnly: 'The card is registered; nothing is charged.',
    agree: 'I agree to the payment and to sharing my details with the payment provider.',
    pay: (a: string) => `Pay ${a}`,
    register: 'Register card',
    cancel: 'Cancel',
    errorTitle: 'Please check',
    toPg: 'Opening the payment provider…',
    closing: 'Closing the payment…',
    continue: 'Continue',
    doneOk: 'Payment complete.',
    doneReady: 'Virtual account issued.',
    doneFail: 'The payment was not completed.',
    back: 'Back to the shop',
    confirm: 'OK',
    vbank: 'Account',
    due: 'Deposit by',
    won: (n: number) => `KRW ${n.toLocaleString('en-US')}`,
    missing: 'This checkout session does not exist. Please try again from the shop.',
  },
} as const;

/**
 * The buyer-facing text of an rsp's error_msg. The rsp itself keeps V1's exact (Korean) messages for
 * the shop's code; the page shows them in the window's language. Pier's own messages read
 * `한국어 (English)`: the half in that language is shown. A PG's message is shown as the PG sent it.
 */
export function localized(message: string, en: boolean, errorCode?: unknown): string {
  if (en && typeof errorCode === 'string' && V1_MESSAGES_EN[errorCode]) return V1_MESSAGES_EN[errorCode];
  const m = /^(.*?)\s*\(([^()]*)\)$/.exec(message);
  // only a Korean text followed by an English one is Pier's pair; `잔액부족 (54)` is a PG's message
  if (!m || !/[가-힣]/.test(m[1]) || !/^[\x20-\x7e]*[A-Za-z][\x20-\x7e]*$/.test(m[2]) || /[가-힣]/.test(m[2])) return message;
  return en ? m[2] : m[1];
}

/** English for V1's fixed rsp messages (F0005 cancel, F1002 already paid), which have no English half. */
const V1_MESSAGES_EN: Record<string, string> = {
  F0005: 'You cancelled the payment.',
  F1002: 'This order has already been paid.',
};

export const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** JSON for a `<script type="application/json">` block: `<` escaped so it can never close the tag. */
const jsonBlock = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

function layout(lang: Lang, title: string, body: string, data?: unknown, pgScript?: string): string {
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(title)}</title>
<link rel="stylesheet" href="/checkout/assets/checkout.css">
</head>
<body>
${body}
${data === undefined ? '' : `<script type="application/json" id="pier-data">${jsonBlock(data)}</script>`}
${pgScript ? `<script src="${esc(pgScript)}" defer></script>\n` : ''}<script src="/checkout/assets/checkout.js" defer></script>
</body>
</html>`;
}

export interface CheckoutView {
  sessionId: string;
  params: CheckoutParams;
  merchantName: string;
  /** the PG's name as the console shows it (`JTNet(tPay)`, `NICE페이먼츠`) */
  pgLabel: string;
  sandbox: boolean;
  /** inside the SDK's overlay iframe, which has its own close button */
  embedded: boolean;
  cards: StandardCode[];
  quotas: number[];
  error?: string | null;
  /** values to keep after a refused submit */
  chosen?: { cardCode?: string; agreed?: boolean };
}

function header(t: (typeof T)[Lang], v: { sessionId: string; merchantName: string; embedded: boolean }) {
  // In the SDK's overlay the overlay's own close button (top right) closes the window; elsewhere
  // (popup, full page) the checkout shows one. Escape submits the form either way.
  return `<header class="bar${v.embedded ? ' embedded' : ''}">
  <h1 id="title">${esc(t.title)}</h1>
  <form method="post" action="/checkout/${esc(v.sessionId)}/close" class="close-form">
    ${v.embedded ? '' : `<button type="submit" class="icon-close" aria-label="${esc(t.close)}" data-close>×</button>`}
  </form>
</header>`;
}

export function checkoutPage(v: CheckoutView): string {
  const p = v.params;
  const lang: Lang = p.language;
  const t = T[lang];
  const billing = p.customer_uid !== null;
  const amountText = t.won(p.amount);
  const chosen = v.chosen ?? {};
  let methodBlock = '';
  if (p.pay_method === 'card') {
    const single = v.cards.length === 1;
    const cards = v.cards
      .map((c) => {
        const checked = chosen.cardCode === c.code || single ? ' checked' : '';
        const name = lang === 'en' ? (CARD_NAMES_EN[c.code] ?? c.name) : c.name;
        return `<li><input type="radio" name="card_code" id="card-${esc(c.code)}" value="${esc(c.code)}" required${checked}><label for="card-${esc(c.code)}">${esc(name)}</label></li>`;
      })
      .join('\n');
    let quota = '';
    if (!billing) {
      // The buyer picks the months in the PG window (tPay quotaFixed); Pier decides which are offered.
      const months = v.quotas.filter((q) => q > 0);
      quota =
        months.length > 0
          ? `<p class="hint" id="quota-info">${esc(t.quota)}: ${esc([t.lump, ...months.map((q) => t.months(q))].join(', '))} <span>${esc(t.quotaWhere)}</span></p>`
          : `<p class="hint" id="quota-info">${esc(p.amount < 50_000 ? t.quotaHint : t.quotaLumpOnly)}</p>`;
    }
    methodBlock = `<fieldset class="cards">
  <legend>${esc(t.chooseCard)}</legend>
  <ul class="card-list">
${cards}
  </ul>
</fieldset>
${quota}`;
  } else {
    const hint = p.pay_method === 'trans' ? t.transHint : p.pay_method === 'vbank' ? t.vbankHint : t.phoneHint;
    methodBlock = `<p class="hint">${esc(hint)}</p>`;
  }
  const error = v.error
    ? `<div class="error" role="alert" tabindex="-1" id="error"><strong>${esc(t.errorTitle)}</strong><p>${esc(v.error)}</p></div>`
    : '';
  const body = `<main class="window" aria-labelledby="title">
${header(t, v)}
${v.sandbox ? `<p class="sandbox">${esc(t.sandbox)}</p>` : ''}
<section class="summary" aria-label="${esc(t.order)}">
  <dl>
    <div><dt>${esc(t.merchant)}</dt><dd>${esc(v.merchantName)}</dd></div>
    ${p.name ? `<div><dt>${esc(t.order)}</dt><dd>${esc(p.name)}</dd></div>` : ''}
    <div><dt>${esc(t.method)}</dt><dd data-method="${esc(p.pay_method)}">${esc(t.methods[p.pay_method])}</dd></div>
    <div class="total"><dt>${esc(t.amount)}</dt><dd data-amount="${p.amount}">${esc(amountText)}</dd></div>
  </dl>
</section>
<form method="post" action="/checkout/${esc(v.sessionId)}/start" class="pay-form" novalidate>
${error}
${billing ? `<p class="hint">${esc(t.billingHint)}${p.amount === 0 ? ` ${esc(t.billingOnly)}` : ''}</p>` : ''}
${methodBlock}
<div class="agree">
  <input type="checkbox" id="agree" name="agree" value="1" required${chosen.agreed ? ' checked' : ''}>
  <label for="agree">${esc(t.agree)}</label>
</div>
<div class="actions">
  <button type="submit" class="pay" id="pay">${esc(billing && p.amount === 0 ? t.register : t.pay(amountText))}</button>
</div>
</form>
<footer class="foot">Pier · ${esc(v.pgLabel)}</footer>
</main>`;
  return layout(lang, `${t.title} · ${v.merchantName}`, body, { page: 'checkout', session: v.sessionId, lang });
}

/**
 * Opens the PG window: auto-submits the connector's form (tPay webTxInit), with a button for no-JS;
 * or loads the PG's JS SDK and calls it (NICE `AUTHNICE.requestPay`). An SDK error (its `fnError`,
 * or an SDK that did not load) is posted to the return URL as a failed result, like the PG's own.
 * The script page's CSP allows scripts from the SDK's origin (pgScriptOrigin) besides Pier's own.
 */
export function toPgPage(lang: Lang, form: WindowForm): string {
  const t = T[lang];
  if (form.kind === 'script') {
    const body = `<main class="window center" aria-live="polite">
<p class="spinner" role="status">${esc(t.toPg)}</p>
<form method="post" action="${esc(String(form.params.returnUrl ?? ''))}" id="pg-error-form" accept-charset="utf-8">
<input type="hidden" name="authResultCode" value="">
<input type="hidden" name="authResultMsg" value="">
</form>
</main>`;
    return layout(lang, t.toPg, body, { page: 'to-pg-script', call: form.call, params: form.params }, form.src);
  }
  return autoPostPage(lang, 'toPg', form.action, form.fields);
}

/**
 * A page whose script posts `fields` to `action` at once (a button without script): how the buyer's
 * browser goes on to the PG, and how a PG's GET to Pier's cancel URL becomes the POST that closes
 * the checkout (a GET changes nothing: link prefetchers and scanners send them).
 */
export function autoPostPage(lang: Lang, say: 'toPg' | 'closing', action: string, fields: Record<string, string>): string {
  const t = T[lang];
  const text = t[say];
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n');
  const body = `<main class="window center" aria-live="polite">
<p class="spinner" role="status">${esc(text)}</p>
<form method="post" action="${esc(action)}" id="pg-form" accept-charset="utf-8">
${inputs}
<noscript><button type="submit" class="pay">${esc(t.continue)}</button></noscript>
</form>
</main>`;
  return layout(lang, text, body, { page: 'to-pg' });
}

export interface ResultView {
  lang: Lang;
  sessionId: string;
  rsp: Rsp;
  /** where the rsp is posted: the page that opened the checkout */
  origin: string;
  mode: string;
  amount: number;
}

/** The last page of a checkout in an overlay or popup: shows the outcome and posts the rsp to the merchant page. */
export function resultPage(v: ResultView): string {
  const t = T[v.lang];
  const r = v.rsp;
  const ok = r.success === true;
  const ready = ok && r.status === 'ready';
  // A decline stays on screen until the buyer confirms it; a success or a cancel returns at once.
  // 확인 is disabled until checkout.js (deferred) has added its listener: on a slow connection a
  // press before that would do nothing, and look like it did.
  const hold = !ok && r.error_code !== 'F0005';
  // vbank_date 0 = the PG gave no deadline (V1's "none"): no due line rather than 1970
  const due = Number(r.vbank_date) > 0
    ? `<div><dt>${esc(t.due)}</dt><dd>${esc(new Date(Number(r.vbank_date) * 1000).toLocaleString(v.lang === 'en' ? 'en-US' : 'ko-KR', { timeZone: 'Asia/Seoul' }))}</dd></div>`
    : '';
  const vbank = ready && r.vbank_num
    ? `<dl class="vbank"><div><dt>${esc(t.vbank)}</dt><dd>${esc(r.vbank_name)} ${esc(r.vbank_num)}</dd></div>${due}</dl>`
    : '';
  const body = `<main class="window center result ${ok ? 'ok' : 'fail'}" aria-labelledby="result-title">
<h1 id="result-title" tabindex="-1">${esc(ok ? (ready ? t.doneReady : t.doneOk) : t.doneFail)}</h1>
${ok ? `<p class="amount">${esc(t.won(v.amount))}</p>` : `<p class="error-msg" role="alert">${esc(localized(String(r.error_msg ?? ''), v.lang === 'en', r.error_code))}${r.error_code ? ` <span class="code">(${esc(r.error_code)})</span>` : ''}</p>`}
${vbank}
${hold ? `<button type="button" class="pay" id="confirm" data-confirm disabled>${esc(t.confirm)}</button>` : ''}
</main>`;
  return layout(v.lang, ok ? t.doneOk : t.doneFail, body, { page: 'result', session: v.sessionId, origin: v.origin, mode: v.mode, rsp: r, hold });
}

export function missingPage(lang: Lang = 'ko'): string {
  const t = T[lang];
  return layout(lang, t.doneFail, `<main class="window center result fail"><h1>${esc(t.doneFail)}</h1><p class="error-msg" role="alert">${esc(t.missing)}</p></main>`);
}

/**
 * A checkout opened again (Back, reload, a prefetcher) while its PG window is in progress. Read-only:
 * it changes nothing. The button asks Pier to close it, which first asks the PG what happened.
 */
export function inProgressPage(lang: Lang, sessionId: string): string {
  const en = lang === 'en';
  const title = en ? 'Payment in progress' : '결제가 진행 중입니다';
  const body = `<main class="window center" aria-live="polite">
<h1>${esc(title)}</h1>
<p>${esc(en ? 'This payment continues in the payment window. If you finished paying there, the result follows shortly.' : '결제창에서 결제가 진행 중입니다. 결제를 마치셨다면 잠시 후 결과가 표시됩니다.')}</p>
<form method="post" action="/checkout/${esc(sessionId)}/close">
<button type="submit" class="pay">${esc(en ? 'Check the result and close' : '결제 결과 확인 후 닫기')}</button>
</form>
</main>`;
  return layout(lang, title, body, { page: 'in-progress', session: sessionId });
}

/** The origin a script-kind window loads its SDK from, for the page's CSP; null for a form. */
export function pgScriptOrigin(form: WindowForm): string | null {
  if (form.kind !== 'script') return null;
  try {
    return new URL(form.src).origin;
  } catch {
    return null;
  }
}
