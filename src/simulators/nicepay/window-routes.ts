/**
 * The payment window, Server 승인 model (spec §1.2–1.4, §1.8): the JS SDK (`GET /v1/js/` defining
 * `AUTHNICE.requestPay`), the window page, and the buyer's submit/cancel, which form-POST the
 * authentication result to the shop's `returnUrl`. Nothing is charged until the shop approves the tid.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bankByCode, VBANK_BANKS } from '../shared/banks.js';
import { autoPostPage } from '../shared/html.js';
import { checkCard, isFailure, type NiceFailure } from './card-rules.js';
import { publicBase, text, type NiceSimContext } from './context.js';
import type { SimAuth, SimPaymentDetails, SimWindowSession } from './ledger.js';
import { authSignature, newAuthToken, niceTime, WINDOW_METHODS, type WindowMethod } from './protocol.js';
import { CARRIERS, langOf, resultForm, vbankIssuedPage, windowErrorPage, windowPage, type Lang } from './window-pages.js';
import { offeredQuotas, paramsAsText, validateWindowParams, type WindowParams } from './window-params.js';

/** What the buyer's cancel button posts to `returnUrl` (OUR DESIGN, spec §11.3 #9). */
export const USER_CANCEL = { authResultCode: 'I002', authResultMsg: '사용자가 결제를 취소하였습니다.' } as const;
export const AUTH_OK = { authResultCode: '0000', authResultMsg: '인증 성공' } as const;

const DAY_MS = 86_400_000;
const KST_MS = 9 * 3600_000;

/** The SDK script. `base` is where the window lives; validation runs on the simulator (one set of rules). */
function sdkScript(base: string): string {
  return `/* NICEPAY Start JS SDK (simulator) */
(function () {
  var BASE = ${JSON.stringify(base)};
  function report(params, code, msg) {
    var result = { resultCode: code, errorMsg: msg, msg: msg };
    if (params && typeof params.fnError === 'function') params.fnError(result);
    else if (window.console) console.error('AUTHNICE', code, msg);
  }
  function requestPay(params) {
    params = params || {};
    var data = {};
    for (var k in params) {
      if (Object.prototype.hasOwnProperty.call(params, k) && typeof params[k] !== 'function' && params[k] !== undefined && params[k] !== null) data[k] = params[k];
    }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', BASE + '/v1/pay/check');
    xhr.setRequestHeader('Content-Type', 'text/plain;charset=utf-8');
    xhr.onload = function () {
      var res;
      try { res = JSON.parse(xhr.responseText); } catch (e) { return report(params, 'P002', '결제창 호출에 실패하였습니다.'); }
      if (res.resultCode !== '0000') return report(params, res.resultCode, res.resultMsg);
      var form = document.createElement('form');
      form.method = 'POST';
      form.action = BASE + '/v1/pay';
      form.acceptCharset = 'utf-8';
      form.style.display = 'none';
      for (var name in data) {
        var input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = String(data[name]);
        form.appendChild(input);
      }
      document.body.appendChild(form);
      form.submit();
    };
    xhr.onerror = function () { report(params, 'P002', '결제창 호출에 실패하였습니다.'); };
    xhr.send(JSON.stringify(data));
  }
  window.AUTHNICE = { requestPay: requestPay };
})();
`;
}

/** Window checks that need the ledger: the clientId must be known (its secret signs the result) and the orderId unpaid. */
function checkWithLedger(ctx: NiceSimContext, p: WindowParams): NiceFailure | null {
  const invalid = validateWindowParams(p);
  if (invalid) return invalid;
  if (ctx.ledger.secretOf(p.clientId!) === null) {
    return { resultCode: 'V001', resultMsg: `등록되지 않은 clientId 입니다(${p.clientId})`, messageSource: 'nicepay' };
  }
  if (ctx.ledger.orderIdTaken(p.clientId!, p.orderId!)) {
    return { resultCode: 'P015', resultMsg: `orderid ${p.orderId} 가 이미 존재합니다.`, messageSource: 'nicepay' };
  }
  return null;
}

/**
 * The deposit deadline of a virtual account: `vbankValidHours` wins, then `vbankExpDate` (a date alone
 * means 23:59:59 KST that day, OUR DESIGN after PortOne), else 7 days.
 */
function vbankDeadline(p: WindowParams, now: number): number {
  if (p.vbankValidHours) return now + Number(p.vbankValidHours) * 3600_000;
  const d = p.vbankExpDate;
  if (d) {
    const [y, m, day] = d.slice(0, 10).split('-').map(Number) as [number, number, number];
    const time = /T(\d{2}):(\d{2})/.exec(d);
    const base = Date.UTC(y, m - 1, day) - KST_MS;
    return time ? base + Number(time[1]) * 3600_000 + Number(time[2]) * 60_000 : base + DAY_MS - 1000;
  }
  return now + 7 * DAY_MS;
}

type FormBody = Record<string, string | undefined>;

export async function nicepayWindowRoutes(app: FastifyInstance, ctx: NiceSimContext): Promise<void> {
  const { ledger, clock } = ctx;

  const sendSdk = async (req: FastifyRequest, reply: FastifyReply) =>
    reply.type('application/javascript; charset=utf-8').header('cache-control', 'no-store').send(sdkScript(publicBase(ctx, req)));
  app.get('/v1/js/', sendSdk);
  app.get('/v1/js', sendSdk);

  // The SDK's pre-flight check: a "simple" cross-origin POST (text/plain), answered with CORS.
  app.post('/v1/pay/check', async (req, reply) => {
    let raw: unknown = null;
    try {
      raw = typeof req.body === 'string' ? JSON.parse(req.body) : req.body;
    } catch {
      raw = null;
    }
    const params = raw && typeof raw === 'object' ? paramsAsText(raw as Record<string, unknown>) : {};
    const problem = checkWithLedger(ctx, params);
    reply.header('access-control-allow-origin', '*');
    return problem ? { resultCode: problem.resultCode, resultMsg: problem.resultMsg } : { resultCode: '0000', resultMsg: '정상' };
  });

  app.post('/v1/pay', async (req, reply) => {
    const params = paramsAsText((req.body ?? {}) as Record<string, unknown>);
    const lang = langOf(params.language);
    const problem = checkWithLedger(ctx, params);
    if (problem) return reply.code(400).type('text/html').send(windowErrorPage(lang, problem.resultCode, problem.resultMsg));
    const session: SimWindowSession = {
      token: randomBytes(16).toString('hex'),
      clientId: params.clientId!,
      params: { ...params, channel: /Mobi|Android|iPhone/i.test(req.headers['user-agent'] ?? '') ? 'mobile' : 'pc' },
      createdAt: clock.now(),
      closedAt: null,
    };
    ledger.putWindowSession(session);
    return reply.type('text/html').send(viewOf(session, lang));
  });

  function viewOf(s: SimWindowSession, lang: Lang, error?: string): string {
    return windowPage({
      token: s.token,
      method: s.params.method as WindowMethod,
      lang,
      goodsName: s.params.goodsName!,
      amount: Number(s.params.amount),
      quotas: offeredQuotas(s.params),
      error,
    });
  }

  /** The open session of a window page, or an error page already sent. */
  function openSession(req: FastifyRequest<{ Params: { token: string } }>, reply: FastifyReply): SimWindowSession | null {
    const s = ledger.windowSession(req.params.token);
    const lang = langOf(s?.params.language);
    if (!s) {
      void reply.code(404).type('text/html').send(windowErrorPage(lang, 'P040', '결제 세션이 존재하지 않습니다.'));
      return null;
    }
    if (s.closedAt !== null || clock.now() - s.createdAt > ctx.windowTtlMs) {
      void reply.code(410).type('text/html').send(windowErrorPage(lang, 'P042', '결제 세션이 만료되었습니다.'));
      return null;
    }
    return s;
  }

  app.post<{ Params: { token: string } }>('/v1/pay/:token/cancel', async (req, reply) => {
    const s = openSession(req, reply);
    if (!s) return reply;
    ledger.closeWindowSession(s.token, clock.now());
    const p = s.params;
    const fields = { ...USER_CANCEL, clientId: p.clientId!, orderId: p.orderId!, amount: p.amount!, mallReserved: p.mallReserved ?? '' };
    return reply.type('text/html').send(autoPostPage(p.returnUrl!, fields, USER_CANCEL.authResultMsg));
  });

  app.post<{ Params: { token: string } }>('/v1/pay/:token/submit', async (req, reply) => {
    const s = openSession(req, reply);
    if (!s) return reply;
    const p = s.params;
    const lang = langOf(p.language);
    const form = (req.body ?? {}) as FormBody;
    const now = clock.now();
    const method = p.method as WindowMethod;
    const built = buildAuth(s, form, now);
    if ('error' in built) return reply.type('text/html').send(viewOf(s, lang, built.error));
    if (!ledger.closeWindowSession(s.token, now)) return reply.code(410).type('text/html').send(windowErrorPage(lang, 'P042', '결제 세션이 만료되었습니다.'));
    const secretKey = ledger.secretOf(s.clientId)!;
    const auth: SimAuth = { ...built.auth, tid: ledger.issueTid(s.clientId, WINDOW_METHODS[method], now), authToken: newAuthToken(), createdAt: now };
    ledger.putAuth(auth);
    const fields = {
      ...AUTH_OK,
      tid: auth.tid,
      clientId: s.clientId,
      orderId: auth.orderId,
      amount: String(auth.amount),
      mallReserved: p.mallReserved ?? '',
      authToken: auth.authToken,
      signature: authSignature(auth.authToken, s.clientId, auth.amount, secretKey),
    };
    const vbank = auth.details.vbank;
    if (vbank) {
      const due = vbank.vbankExpAt === null ? '-' : niceTime(vbank.vbankExpAt).slice(0, 16).replace('T', ' ');
      return reply
        .type('text/html')
        .send(vbankIssuedPage(lang, { bankName: vbank.vbankName, number: vbank.vbankNumber, holder: vbank.vbankHolder, due, amount: auth.amount }, resultForm(p.returnUrl!, fields, lang)));
    }
    return reply.type('text/html').send(autoPostPage(p.returnUrl!, fields, lang === 'en' ? 'Returning to the shop…' : '가맹점으로 이동합니다…', lang));
  });

  /** The authentication the buyer's input makes, or the error to show on the window. */
  function buildAuth(s: SimWindowSession, form: FormBody, now: number): { auth: Omit<SimAuth, 'tid' | 'authToken' | 'createdAt'> } | { error: string } {
    const p = s.params;
    const method = p.method as WindowMethod;
    const details: SimPaymentDetails = {
      payMethod: method,
      goodsName: p.goodsName!.replace(/["¦]/g, '-'),
      mallReserved: p.mallReserved ?? null,
      currency: p.currency ?? 'KRW',
      channel: p.channel === 'mobile' ? 'mobile' : 'pc',
      useEscrow: p.useEscrow === 'true',
      buyerName: p.buyerName ?? null,
      buyerTel: p.buyerTel ?? null,
      buyerEmail: p.buyerEmail ?? null,
      mallUserId: p.mallUserId ?? null,
      card: null,
      bank: null,
      vbank: null,
      bid: null,
      // checked against amount with the window's other parameters (P036)
      taxFreeAmt: p.taxFreeAmt === undefined ? 0 : Number(p.taxFreeAmt),
    };
    let rule: SimAuth['rule'] = { kind: 'approve' };
    const english = langOf(p.language) === 'en';
    if (method === 'card') {
      const expiry = /^(\d{2})\s*\/\s*(\d{2})$/.exec(text(form, 'cardExpiry') ?? '');
      const quota = Number(form.cardQuota ?? '0');
      if (!offeredQuotas(p).includes(quota)) return { error: english ? 'Installments are not available.' : '선택할 수 없는 할부개월입니다.' };
      if (!expiry) return { error: english ? 'Enter the expiry as MM/YY.' : '유효기간을 MM/YY 형식으로 입력하세요.' };
      const checked = checkCard({ cardNo: form.cardNo ?? '', expYear: expiry[2]!, expMonth: expiry[1]!, quota }, now, ctx.overseasCards);
      if (isFailure(checked)) return { error: `${checked.resultMsg} (${checked.resultCode})` };
      details.card = checked.card;
      rule = checked.charge;
    } else if (method === 'bank') {
      const bank = bankByCode(form.bankCode ?? '');
      if (!bank) return { error: english ? 'Choose a bank.' : '은행을 선택하세요.' };
      details.bank = { bankCode: bank.code, bankName: bank.name };
    } else if (method === 'vbank') {
      const bank = VBANK_BANKS.find((b) => b.code === form.vbankCode);
      if (!bank) return { error: english ? 'Choose a bank.' : '은행을 선택하세요.' };
      const number = `${randomInt(100, 1000)}${String(randomInt(0, 1e9)).padStart(9, '0')}${randomInt(10, 100)}`;
      details.vbank = { vbankCode: bank.code, vbankName: bank.name, vbankNumber: number, vbankExpAt: ctx.vbankWithoutDeadline.has(s.clientId) || ctx.vbankWithoutDeadline.has('*') ? null : vbankDeadline(p, now), vbankHolder: p.vbankHolder! };
    } else {
      const phone = (form.phone ?? '').replace(/-/g, '');
      if (!(CARRIERS as readonly string[]).includes(form.carrier ?? '') || !/^01\d{8,9}$/.test(phone)) {
        return { error: english ? 'Choose a carrier and enter a mobile number.' : '통신사와 휴대폰 번호를 확인하세요.' };
      }
    }
    return { auth: { clientId: s.clientId, orderId: p.orderId!, amount: Number(p.amount), state: 'pending', details, rule } };
  }
}
