/**
 * Sales slips (매출전표) of the tPay simulator: one printable page per approval and one per cancel,
 * at `GET /receipt/{tid}?sig=…`. The simulator puts the page's absolute URL in its answers
 * (`receipt_url` of payments / payments_token / refunds / trans_search), as a PG hands merchants
 * the URL of its own receipt page (PortOne passes the PG's URL through as `receipt_url`).
 *
 * OUR DESIGN (tPay's receipt URL is unknown): `sig` is an HMAC of the tid under the merchant's key,
 * so a buyer can open the slip of their own payment but nobody can walk the (guessable) tids of
 * other payments. The page shows only what a card slip shows: masked card number, approval
 * number, amounts; never the merchant key, a password, a birth date or a full card number.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { kstParts } from '../../lib/clock.js';
import { bankByCode } from '../shared/banks.js';
import { companyByTpayCode } from '../shared/card-companies.js';
import type { SimCancel, SimMerchant, SimTransaction, TpayLedger } from './ledger.js';
import { esc } from './window-pages.js';

/** The receipt signature of a tid: HMAC-SHA256 under the merchant key, 128 bits, base64url. */
export function receiptSignature(merchantKey: string, tid: string): string {
  return createHmac('sha256', merchantKey).update(`receipt:${tid}`).digest().subarray(0, 16).toString('base64url');
}

/**
 * Where buyers reach this simulator: the configured public URL, else the address the caller used
 * (scheme + Host header + the plugin's mount prefix), which is also where the window was opened.
 */
export function publicBaseOf(req: FastifyRequest, prefix: string, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.host}${prefix}`;
}

export function receiptUrl(base: string, merchant: Pick<SimMerchant, 'merchantKey'>, tid: string): string {
  return `${base}/receipt/${encodeURIComponent(tid)}?sig=${receiptSignature(merchant.merchantKey, tid)}`;
}

function sameSig(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const pad = (n: number) => String(n).padStart(2, '0');
function kstDateTime(ms: number): string {
  const p = kstParts(ms);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}
const won = (n: number) => `${n.toLocaleString('en-US')}원`;

/** VAT the way Korean slips print it: 1/11 of a VAT-inclusive amount, rounded (the simulator knows no tax-free part). */
export function vatSplit(amount: number): { supply: number; vat: number } {
  const vat = Math.round(amount / 11);
  return { supply: amount - vat, vat };
}

const METHOD_TITLE: Record<SimTransaction['payMethod'], string> = {
  CARD: '신용카드 매출전표',
  BANK: '계좌이체 영수증',
  VBANK: '가상계좌 입금 영수증',
  CELLPHONE: '휴대폰 결제 영수증',
};

function statusOf(t: SimTransaction): string {
  if (t.status === 'cancelled') return '전체취소';
  if (t.status === 'ready') return '입금대기';
  return t.cancelledAmount > 0 ? '부분취소' : '승인';
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Apple SD Gothic Neo","Malgun Gothic",sans-serif;color:#1f2328;background:#eef1f5}
.slip{background:#fff;max-width:440px;margin:24px auto;padding:0 0 16px;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.12)}
@media (max-width:480px){.slip{margin:0;border-radius:0;box-shadow:none;min-height:100vh}}
header{background:#e8413c;color:#fff;padding:14px 18px;border-radius:10px 10px 0 0}
@media (max-width:480px){header{border-radius:0}}
header .logo{font-weight:800;font-size:13px;letter-spacing:.5px;opacity:.9}
h1{font-size:18px;margin:2px 0 0}
h2{font-size:14px;margin:16px 18px 6px;color:#57606a}
dl{display:grid;grid-template-columns:auto 1fr;gap:4px 12px;margin:0 18px;padding:10px 0;border-bottom:1px dashed #d0d7de}
dt{color:#57606a;white-space:nowrap}dd{margin:0;text-align:right;overflow-wrap:anywhere}
dd.total{font-weight:700;font-size:17px}
.status{display:inline-block;padding:0 8px;border-radius:10px;background:#dafbe1;color:#116329;font-weight:700}
.status.cancel{background:#ffebe9;color:#82071e}
table{width:calc(100% - 36px);margin:0 18px;border-collapse:collapse;font-size:14px}
th,td{padding:6px 4px;border-bottom:1px solid #eaeef2;text-align:left}td.num,th.num{text-align:right}
.note{margin:14px 18px 0;font-size:12px;color:#57606a}
.actions{margin:16px 18px 0}
button{width:100%;font:inherit;font-weight:700;padding:12px;border-radius:6px;border:1px solid #8c959f;background:#fff;cursor:pointer}
button:focus{outline:3px solid #0969da;outline-offset:1px}
@page{size:A5;margin:12mm}
@media print{
  body{background:#fff;font-size:11pt}
  .slip{max-width:none;margin:0;box-shadow:none;border-radius:0}
  header{background:none;color:#000;border-bottom:2px solid #000;border-radius:0;padding:0 18px 6px}
  .status,.status.cancel{background:none;color:#000;border:1px solid #000}
  .actions{display:none}
  dl,table{break-inside:avoid}
}
`;

function page(title: string, inner: string): string {
  return `<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main class="slip" aria-labelledby="title">
<header><div class="logo" aria-hidden="true">tPay</div><h1 id="title">${esc(title)}</h1></header>
${inner}
<div class="actions"><button type="button" id="printBtn" onclick="window.print()">인쇄하기</button></div>
<p class="note">tPay 시뮬레이터가 발행한 테스트 전표입니다. 실제 거래가 아닙니다.</p>
</main>
</body>
</html>`;
}

function rows(pairs: Array<[string, string, string?]>): string {
  return `<dl>${pairs.map(([k, v, cls]) => `<dt>${esc(k)}</dt><dd${cls ? ` class="${cls}"` : ''}>${esc(v)}</dd>`).join('')}</dl>`;
}

function methodRows(t: SimTransaction): Array<[string, string]> {
  if (t.payMethod === 'CARD') {
    const company = companyByTpayCode(t.tpayCardCode);
    return [
      ['카드사', company?.tpayName ?? '-'],
      ['카드번호', t.cardNumMasked || '-'],
      ['카드종류', t.cardType === 1 ? '체크' : '신용'],
      ['할부', t.cardQuota >= 2 ? `${t.cardQuota}개월` : '일시불'],
      ['승인번호', t.appNo ?? '-'],
    ];
  }
  if (t.payMethod === 'BANK' || t.payMethod === 'VBANK') {
    const bank = t.bankCode ? bankByCode(t.bankCode) : undefined;
    const out: Array<[string, string]> = [['은행', bank?.name ?? t.bankCode ?? '-']];
    if (t.depositedAt !== null) out.push(['입금일시', kstDateTime(t.depositedAt)]);
    return out;
  }
  return [
    ['통신사', t.carrier ?? '-'],
    ['휴대폰번호', t.phoneMasked ?? '-'],
  ];
}

/** The slip of an approval, with every cancel made on it so far. */
export function paymentSlip(merchant: SimMerchant, t: SimTransaction, cancels: SimCancel[]): string {
  const { supply, vat } = vatSplit(t.amount);
  const status = statusOf(t);
  const cancelRows = cancels.length
    ? `<h2>취소 내역</h2><table><thead><tr><th scope="col">취소일시</th><th scope="col" class="num">취소금액</th></tr></thead><tbody>${cancels
        .map((c) => `<tr><td>${esc(kstDateTime(c.createdAt))}</td><td class="num">${esc(won(c.amount))}</td></tr>`)
        .join('')}</tbody></table>${rows([['취소 후 잔액', won(t.amount - t.cancelledAmount), 'total']])}`
    : '';
  return page(
    METHOD_TITLE[t.payMethod],
    `<h2>거래 정보</h2>${rows([
      ['가맹점', merchant.name],
      ['가맹점 ID', merchant.mid],
      ['거래번호', t.tid],
      ['주문번호', t.moid],
      ['상품명', t.goodsName],
      ['거래일시', kstDateTime(t.createdAt)],
    ])}${rows(methodRows(t))}<dl><dt>상태</dt><dd><span class="status${t.status === 'cancelled' || t.cancelledAmount > 0 ? ' cancel' : ''}" id="status">${esc(status)}</span></dd></dl>
<h2>결제 금액</h2>${rows([
      ['공급가액', won(supply)],
      ['부가세', won(vat)],
      ['합계', won(t.amount), 'total'],
    ])}${cancelRows}`,
  );
}

/** The slip of one cancel: what was refunded, of which approval, and what is left. */
export function cancelSlip(merchant: SimMerchant, t: SimTransaction, c: SimCancel, remainingAfter: number): string {
  const { supply, vat } = vatSplit(c.amount);
  return page(
    `${METHOD_TITLE[t.payMethod]} (취소)`,
    `<h2>취소 정보</h2>${rows([
      ['가맹점', merchant.name],
      ['가맹점 ID', merchant.mid],
      ['취소 거래번호', c.cancelTid],
      ['원거래번호', t.tid],
      ['주문번호', t.moid],
      ['상품명', t.goodsName],
      ['원거래일시', kstDateTime(t.createdAt)],
      ['취소일시', kstDateTime(c.createdAt)],
    ])}${rows(methodRows(t))}<dl><dt>상태</dt><dd><span class="status cancel" id="status">${c.partial ? '부분취소' : '전체취소'}</span></dd></dl>
<h2>취소 금액</h2>${rows([
      ['공급가액', `-${won(supply)}`],
      ['부가세', `-${won(vat)}`],
      ['취소 합계', `-${won(c.amount)}`, 'total'],
      ['원거래 금액', won(t.amount)],
      ['취소 후 잔액', won(remainingAfter)],
    ])}`,
  );
}

/** `GET /receipt/:tid?sig=` — the slip of an approval or of a cancel; anything else is a bare 404. */
export async function tpayReceiptRoutes(app: FastifyInstance, o: { ledger: TpayLedger }): Promise<void> {
  app.get('/receipt/:tid', async (req, reply) => {
    const { tid } = req.params as { tid: string };
    const sig = (req.query as Record<string, unknown>).sig;
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').header('x-robots-tag', 'noindex');
    reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'");
    const notFound = () => reply.code(404).type('text/html; charset=utf-8').send(page('전표를 찾을 수 없습니다', '<p class="note">주소를 확인해 주세요.</p>'));
    if (typeof sig !== 'string' || sig.length > 64) return notFound();

    const found = o.ledger.receiptSubject(tid);
    if (!found) return notFound();
    const merchant = o.ledger.getMerchant(found.tx.mid);
    if (!merchant || !sameSig(sig, receiptSignature(merchant.merchantKey, tid))) return notFound();
    const cancels = o.ledger.cancelsOf(found.tx.tid);
    reply.type('text/html; charset=utf-8');
    if (!found.cancel) return paymentSlip(merchant, found.tx, cancels);
    // the balance right after this cancel: cancels up to and including it
    const upTo = cancels.slice(0, cancels.findIndex((c) => c.cancelTid === found.cancel!.cancelTid) + 1);
    return cancelSlip(merchant, found.tx, found.cancel, found.tx.amount - upTo.reduce((s, c) => s + c.amount, 0));
  });
}
