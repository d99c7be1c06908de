/**
 * Server-rendered HTML of the simulator's payment window (tPay webTxInit). Plain HTML with a little
 * inline CSS and JS; Korean by default, English with `language=EN`. Every input has a label, the
 * pages work with the keyboard alone and at 375px width. Field names and ids are part of the
 * simulator's contract with browser tests (docs/simulator.md, "Payment window").
 */
import { SIM_BANKS, VBANK_BANKS, DEFAULT_VBANK_CODE } from '../shared/banks.js';
import { TPAY_CARD_COMPANIES } from '../shared/card-companies.js';
import { esc } from '../shared/html.js';

export type Lang = 'ko' | 'en';
export type WindowMethod = 'CARD' | 'CDBILLRG' | 'BANK' | 'VBANK' | 'CELLPHONE';

export const SANDBOX_OTP = '123456';
export const CARRIERS = ['SKT', 'KT', 'LGT', 'MVNO'] as const;

const T = {
  ko: {
    title: { CARD: '신용카드 결제', CDBILLRG: '카드 자동결제 등록', BANK: '실시간 계좌이체', VBANK: '가상계좌 발급', CELLPHONE: '휴대폰 결제' },
    merchant: '상점',
    goods: '상품명',
    amount: '결제금액',
    won: '원',
    sandbox: '테스트 결제창(tPay 시뮬레이터)입니다. 실제 출금은 일어나지 않습니다.',
    cardNo: '카드번호',
    cardNoHelp: '숫자 13~19자리. 테스트 카드 규칙은 아래를 보세요.',
    expiry: '유효기간 (MM/YY)',
    birth: '생년월일 6자리 (법인카드: 사업자번호 10자리)',
    pwd: '카드 비밀번호 앞 2자리',
    quota: '할부',
    lump: '일시불',
    months: (n: number) => `${n}개월`,
    quotaHint: '할부는 5만원 이상 결제에서만 가능합니다.',
    billingNote: '이 카드를 정기결제(자동결제)용으로 등록합니다. 등록 시 결제는 일어나지 않습니다.',
    bank: '은행 선택',
    vbankBank: '입금할 은행',
    vbankNote: (due: string) => `발급된 계좌에 ${due} 23:59:59까지 입금하면 결제가 완료됩니다.`,
    carrier: '통신사',
    phone: '휴대폰 번호',
    otp: '인증번호 6자리',
    otpHint: (c: string) => `테스트 인증번호: ${c}`,
    pay: { CARD: '결제하기', CDBILLRG: '카드 등록', BANK: '이체하기', VBANK: '가상계좌 발급', CELLPHONE: '결제하기' },
    cancel: '취소',
    testCards: '테스트 카드',
    errorTitle: '결제 요청 오류',
    back: '가맹점으로 돌아가기',
    processing: '결제 결과를 가맹점에 전달하는 중입니다…',
    pending: '결제를 처리하고 있습니다. 이 창을 닫아도 됩니다.',
  },
  en: {
    title: { CARD: 'Credit card', CDBILLRG: 'Register a card for recurring payments', BANK: 'Bank transfer', VBANK: 'Virtual account', CELLPHONE: 'Mobile phone payment' },
    merchant: 'Merchant',
    goods: 'Item',
    amount: 'Amount',
    won: ' KRW',
    sandbox: 'Test payment window (tPay simulator). No money moves.',
    cardNo: 'Card number',
    cardNoHelp: '13 to 19 digits. See the test card rules below.',
    expiry: 'Expiry (MM/YY)',
    birth: 'Date of birth, YYMMDD (corporate cards: 10-digit business number)',
    pwd: 'First 2 digits of the card PIN',
    quota: 'Installments',
    lump: 'Pay in full',
    months: (n: number) => `${n} months`,
    quotaHint: 'Installments are available from 50,000 KRW.',
    billingNote: 'This registers the card for recurring payments. Nothing is charged now.',
    bank: 'Bank',
    vbankBank: 'Bank to deposit into',
    vbankNote: (due: string) => `Deposit into the issued account by ${due} 23:59:59 KST to complete the payment.`,
    carrier: 'Carrier',
    phone: 'Mobile number',
    otp: '6-digit verification code',
    otpHint: (c: string) => `Test verification code: ${c}`,
    pay: { CARD: 'Pay', CDBILLRG: 'Register card', BANK: 'Transfer', VBANK: 'Issue account', CELLPHONE: 'Pay' },
    cancel: 'Cancel',
    testCards: 'Test cards',
    errorTitle: 'Payment request error',
    back: 'Back to the merchant',
    processing: 'Sending the result to the merchant…',
    pending: 'Your payment is being processed. You may close this window.',
  },
} as const;

export { esc };

function won(n: number, lang: Lang): string {
  return `${String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${T[lang].won}`;
}

// In a frame or window no wider than the card (Pier's 480 px overlay, a phone), the card fills it:
// centred with a margin it would leave a strip of page background on one side. The buttons stay
// at the bottom of the screen, so a short window (1280x720) still shows "Pay" without scrolling.
const CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Apple SD Gothic Neo","Malgun Gothic",sans-serif;color:#1f2328;background:#eef1f5}
.win{background:#fff;max-width:440px;margin:24px auto;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.12)}
.win>header{border-radius:10px 10px 0 0}
body.mobile{background:#fff}
body.mobile .win{max-width:none;margin:0;border-radius:0;box-shadow:none;min-height:100vh}
@media (max-width:488px){body{background:#fff}.win{max-width:none;margin:0;border-radius:0;box-shadow:none;min-height:100vh}.win>header{border-radius:0}}
header{background:#e8413c;color:#fff;padding:12px 18px;display:flex;align-items:center;gap:10px}
header .logo{font-weight:800;font-size:18px;letter-spacing:-.5px}
header h1{font-size:16px;margin:0;font-weight:600}
.body{padding:12px 18px 16px}
dl.summary{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:0 0 10px;padding:10px 12px;background:#f6f8fa;border-radius:8px}
dl.summary dt{color:#57606a;white-space:nowrap}dl.summary dd{margin:0;text-align:right;min-width:0;word-break:keep-all;overflow-wrap:break-word}
dd.amount{font-weight:700;color:#e8413c}
.sandbox{font-size:13px;color:#6e4b00;background:#fff8c5;border:1px solid #eed888;padding:6px 10px;border-radius:6px;margin:0 0 4px}
.error{color:#82071e;background:#ffebe9;border:1px solid #ff8182;padding:8px 10px;border-radius:6px}
.field{margin:10px 0}
label{display:block;font-weight:600;margin-bottom:4px}
input,select{width:100%;font:inherit;padding:9px 10px;border:1px solid #8c959f;border-radius:6px;background:#fff}
input:focus,select:focus,button:focus{outline:3px solid #0969da;outline-offset:1px}
.help{font-size:13px;color:#57606a;margin:4px 0 0}
.row{display:flex;gap:10px}.row .field{flex:1;min-width:0}
.actions{display:flex;gap:10px;margin:14px -18px 0;padding:10px 18px 14px;position:sticky;bottom:0;background:#fff;border-top:1px solid #d0d7de}
.actions button{flex:1;font:inherit;font-weight:700;padding:12px;border-radius:6px;border:1px solid #8c959f;cursor:pointer}
#payBtn{order:2;background:#e8413c;border-color:#e8413c;color:#fff}
#cancelBtn{order:1;background:#fff;color:#1f2328}
details{margin-top:14px;font-size:13px;color:#57606a}
code{font-size:12px;background:#f6f8fa;padding:1px 4px;border-radius:4px}
`;

function page(lang: Lang, mobile: boolean, title: string, inner: string, script = ''): string {
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tPay ${esc(title)}</title>
<style>${CSS}</style>
</head>
<body class="${mobile ? 'mobile' : 'pc'}">
<main class="win" aria-labelledby="title">
<header><span class="logo" aria-hidden="true">tPay</span><h1 id="title">${esc(title)}</h1></header>
<div class="body">
${inner}
</div>
</main>
${script ? `<script>${script}</script>` : ''}
</body>
</html>`;
}

export interface WindowView {
  lang: Lang;
  mobile: boolean;
  method: WindowMethod;
  /** absolute path of the submit endpoint */
  action: string;
  txToken: string;
  merchantName: string;
  goodsName: string;
  amount: number;
  /** installment months offered besides lump sum (already filtered by the amount) */
  quotas: number[];
  /** YYYYMMDD */
  vbankExpDate: string;
  /** tPay card company preselected by the merchant, shown only */
  cardCompanyName: string | null;
  /** example PANs for the test-card hint */
  testCards: { approve: string; decline54: string };
  error?: string;
  /** values to keep after a rejected submit (never card data) */
  keep?: Record<string, string>;
}

function field(id: string, name: string, label: string, attrs: string, help?: string): string {
  const describedBy = help ? ` aria-describedby="${id}Help"` : '';
  return `<div class="field"><label for="${id}">${esc(label)}</label><input id="${id}" name="${name}" ${attrs}${describedBy}>${
    help ? `<p class="help" id="${id}Help">${esc(help)}</p>` : ''
  }</div>`;
}

function select(id: string, name: string, label: string, options: Array<[string, string]>, selected: string): string {
  const opts = options
    .map(([v, text]) => `<option value="${esc(v)}"${v === selected ? ' selected' : ''}>${esc(text)}</option>`)
    .join('');
  return `<div class="field"><label for="${id}">${esc(label)}</label><select id="${id}" name="${name}" required>${opts}</select></div>`;
}

function dueLabel(yyyymmdd: string): string {
  return `${yyyymmdd.slice(0, 4)}-${yyyymmdd.slice(4, 6)}-${yyyymmdd.slice(6, 8)}`;
}

const FORMAT_JS = `
(function(){
  var n=document.getElementById('cardNo');
  if(n)n.addEventListener('input',function(){var d=n.value.replace(/\\D/g,'').slice(0,19);n.value=d.replace(/(\\d{4})(?=\\d)/g,'$1 ');});
  var e=document.getElementById('cardExpiry');
  if(e)e.addEventListener('input',function(ev){var d=e.value.replace(/\\D/g,'').slice(0,4);e.value=d.length>2?d.slice(0,2)+'/'+d.slice(2):d;});
  var f=document.getElementById('payForm');
  if(f)f.addEventListener('submit',function(ev){var s=ev.submitter;if(s&&s.id==='payBtn'){s.disabled=true;var h=document.createElement('input');h.type='hidden';h.name='action';h.value='pay';f.appendChild(h);}});
})();`;

/** tPay's Korean short name of a card company, in the window's language. */
function cardCompanyLabel(tpayName: string, lang: Lang): string {
  if (lang === 'ko') return tpayName;
  return TPAY_CARD_COMPANIES.find((c) => c.tpayName === tpayName)?.tpayNameEn ?? tpayName;
}

export function windowPage(v: WindowView): string {
  const t = T[v.lang];
  const keep = v.keep ?? {};
  const summary = `<dl class="summary">
<dt>${esc(t.merchant)}</dt><dd id="merchantName">${esc(v.merchantName)}</dd>
<dt>${esc(t.goods)}</dt><dd id="goodsName">${esc(v.goodsName)}</dd>
${v.method === 'CDBILLRG' && v.amount === 0 ? '' : `<dt>${esc(t.amount)}</dt><dd class="amount" id="amount">${esc(won(v.amount, v.lang))}</dd>`}
${v.cardCompanyName ? `<dt>${v.lang === 'ko' ? '카드사' : 'Card issuer'}</dt><dd id="cardCompany">${esc(cardCompanyLabel(v.cardCompanyName, v.lang))}</dd>` : ''}
</dl>`;
  let fields = '';
  if (v.method === 'CARD' || v.method === 'CDBILLRG') {
    if (v.method === 'CDBILLRG') fields += `<p class="help" id="billingNote">${esc(t.billingNote)}</p>`;
    fields += field('cardNo', 'cardNo', t.cardNo, 'type="text" inputmode="numeric" autocomplete="cc-number" required maxlength="23" pattern="[0-9 \\-]{13,23}"', t.cardNoHelp);
    fields += `<div class="row">${field('cardExpiry', 'cardExpiry', t.expiry, 'type="text" inputmode="numeric" autocomplete="cc-exp" placeholder="MM/YY" required maxlength="5" pattern="(0[1-9]|1[0-2])/?[0-9]{2}"')}${field(
      'cardPwd',
      'cardPwd',
      t.pwd,
      'type="password" inputmode="numeric" autocomplete="off" required maxlength="2" pattern="[0-9]{2}"',
    )}</div>`;
    fields += field('buyerAuthNum', 'buyerAuthNum', t.birth, 'type="text" inputmode="numeric" autocomplete="off" required maxlength="10" pattern="[0-9]{6}|[0-9]{10}"');
    if (v.method === 'CARD') {
      const opts: Array<[string, string]> = [['00', t.lump], ...v.quotas.map((m): [string, string] => [String(m).padStart(2, '0'), t.months(m)])];
      fields += select('cardQuota', 'cardQuota', t.quota, opts, keep.cardQuota ?? '00');
      if (v.quotas.length === 0 && v.amount < 50_000) fields += `<p class="help" id="quotaHint">${esc(t.quotaHint)}</p>`;
    }
  } else if (v.method === 'BANK') {
    fields += select('bankCode', 'bankCode', t.bank, SIM_BANKS.map((b) => [b.code, v.lang === 'ko' ? b.name : b.en]), keep.bankCode ?? '004');
  } else if (v.method === 'VBANK') {
    fields += select('bankCode', 'bankCode', t.vbankBank, VBANK_BANKS.map((b) => [b.code, v.lang === 'ko' ? b.name : b.en]), keep.bankCode ?? DEFAULT_VBANK_CODE);
    fields += `<p class="help" id="vbankNote">${esc(t.vbankNote(dueLabel(v.vbankExpDate)))}</p>`;
  } else {
    fields += select('carrier', 'carrier', t.carrier, CARRIERS.map((c) => [c, c === 'MVNO' ? (v.lang === 'ko' ? '알뜰폰' : 'MVNO') : c]), keep.carrier ?? 'SKT');
    fields += field('phoneNo', 'phoneNo', t.phone, `type="tel" inputmode="numeric" autocomplete="tel-national" required maxlength="13" pattern="01[0-9][0-9 \\-]{7,10}" value="${esc(keep.phoneNo ?? '')}"`);
    fields += field('otp', 'otp', t.otp, 'type="text" inputmode="numeric" autocomplete="one-time-code" required maxlength="6" pattern="[0-9]{6}"', undefined);
    fields += `<p class="help" id="otpHint">${esc(t.otpHint(SANDBOX_OTP))}</p>`;
  }
  const hint =
    v.method === 'CARD' || v.method === 'CDBILLRG'
      ? `<details id="testCardRules"><summary>${esc(t.testCards)}</summary><p>${
          v.lang === 'ko' ? '승인' : 'Approves'
        }: <code>${esc(v.testCards.approve)}</code><br>${v.lang === 'ko' ? '잔액부족(54)' : 'Insufficient funds (54)'}: <code>${esc(
          v.testCards.decline54,
        )}</code><br>${
          v.lang === 'ko'
            ? '끝 4자리 00NN → 카드사 거절 NN, 10NN → 등록은 되고 결제 시 거절. 생년월일 999999 → 51, 비밀번호 99 → 19.'
            : 'Last four 00NN → issuer decline NN; 10NN → registers, later charges decline. Birth 999999 → 51, PIN 99 → 19.'
        }</p></details>`
      : v.method === 'BANK'
        ? `<p class="help">${v.lang === 'ko' ? '금액 끝자리 954 → 잔액부족' : 'Amounts ending in 954 decline (insufficient funds).'}</p>`
        : v.method === 'CELLPHONE'
          ? `<p class="help">${v.lang === 'ko' ? '번호 끝 0000 → 한도초과' : 'Numbers ending in 0000 decline (limit exceeded).'}</p>`
          : '';
  const inner = `${summary}
<p class="sandbox">${esc(t.sandbox)}</p>
${v.error ? `<div id="formError" class="error" role="alert">${esc(v.error)}</div>` : '<div id="formError" role="alert" hidden></div>'}
<form id="payForm" method="post" action="${esc(v.action)}" accept-charset="utf-8">
<input type="hidden" name="txToken" value="${esc(v.txToken)}">
${fields}
<div class="actions">
<button type="submit" id="payBtn" name="action" value="pay">${esc(t.pay[v.method])}</button>
<button type="submit" id="cancelBtn" name="action" value="cancel" formnovalidate>${esc(t.cancel)}</button>
</div>
</form>
${hint}`;
  return page(v.lang, v.mobile, t.title[v.method], inner, FORMAT_JS);
}

export function errorPage(lang: Lang, code: string, message: string): string {
  const t = T[lang];
  return page(lang, false, t.errorTitle, `<div id="tpay-error" class="error" role="alert"><p><strong id="errorCode">${esc(code)}</strong> <span id="errorMsg">${esc(message)}</span></p></div>`);
}

/** The page that posts the result to the merchant: JS submits it at once, a noscript button otherwise. */
export function autoPostPage(lang: Lang, mobile: boolean, action: string, fields: Record<string, string>): string {
  const t = T[lang];
  const inputs = Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n');
  const inner = `<p id="processing" role="status">${esc(t.processing)}</p>
<form id="tpayResult" method="post" action="${esc(action)}" accept-charset="utf-8">
${inputs}
<noscript><div class="actions"><button type="submit" id="returnBtn">${esc(t.back)}</button></div></noscript>
</form>`;
  return page(lang, mobile, 'tPay', inner, "document.getElementById('tpayResult').submit();");
}

/** Shown when the approval is recorded but the result is held (test card `0098`): nothing is posted. */
export function pendingPage(lang: Lang, mobile: boolean): string {
  return page(lang, mobile, 'tPay', `<p id="pending" role="status">${esc(T[lang].pending)}</p>`);
}
