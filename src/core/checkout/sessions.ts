/**
 * The payment window (issue #3): IMP.request_pay → a checkout session → the PG window → the rsp.
 *
 * Money moves by record, call, record as in charge.ts: when the buyer leaves Pier's checkout for the
 * PG window, the attempt is committed as `ready` (pg_state `window`); the PG's result posted back to
 * Pier is verified by the connector, recorded, then acknowledged to the PG. The attempt takes the
 * merchant_uid lock only with what the PG confirms (an approval, an issued account) or just before
 * Pier's own call to the PG (NICE's approve, a new billing key's first charge): a window merely open
 * holds nothing, so nobody can keep a merchant_uid from being paid by opening checkouts on it
 * (decision 0058). An approval for a merchant_uid another payment holds is recorded and refunded.
 * An attempt whose buyer never comes back is turned `in_doubt` after the session's lifetime, and
 * reconcile.ts settles it by asking the PG.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { PgCallRefusedAtStop, PierError, refusePgCallWhenStopping } from '../errors.js';
import { ConnectorError, type WindowForm, type WindowResult } from '../../connectors/types.js';
import type { V1Payment } from '../../domain/payment.js';
import { unixSeconds } from '../../lib/clock.js';
import type { CheckoutSessionsTable, Database } from '../../store/types.js';
import { attemptRow, insertAttempt, lockHolder, withNewImpUid, yieldsToWindowApproval } from '../payments/attempts.js';
import { preparedAmount } from '../payments/prepare.js';
import { storeBillingKey } from '../billing-keys/billing-keys.js';
import { channelById, resolveChannel, type ResolvedChannel } from '../merchants/channels.js';
import { recordApproval } from '../payments/charge.js';
import {
  allowedQuotas,
  CANCELLED_RSP_MESSAGE,
  enabledCards,
  isMobileUserAgent,
  merchantUidTakenError,
  ParamError,
  prepareMismatchMessage,
  RSP_ERRORS,
  validateRequestPay,
  type CheckoutParams,
} from './params.js';
import type { Deps } from '../deps.js';
import { recordPaymentEvent } from '../payments/events.js';
import { loadV1Payment } from '../payments/render.js';
import { markInDoubt as markCallInDoubt, settleAttempt } from '../payments/reconcile.js';
import { takeCheckoutInquiry, takeCheckoutTurn, tooManyRequestsMessage } from './rate-limits.js';
import { dbNow } from '../../store/db-clock.js';
import { confirmNow, enqueueWindowConfirm, PG_WINDOW_LIFETIME_SECONDS } from './window-confirms.js';
import {
  closeVbankOfFailedAttempt,
  failWindowAttempt,
  preparedAmountViolation,
  recordPgApproval,
  recordWindowVbank,
  withMerchantUid,
  type FoundAtPg,
  type WindowAttempt,
} from './window-settlement.js';

/** How long a checkout session (and a PG window opened from it) may stay open. */
export const SESSION_TTL_SECONDS = PG_WINDOW_LIFETIME_SECONDS;

export type CheckoutMode = 'overlay' | 'popup' | 'redirect';

/** The V1 callback `rsp` (spec/api-v1.md §14.3). Keys typed as in iamport-typings' RequestPayResponse. */
export type Rsp = Record<string, unknown> & { success: boolean; imp_uid: string | null; merchant_uid: string };

export interface Checkout {
  session: CheckoutSessionsTable;
  params: CheckoutParams;
}

export interface CreateSessionInput {
  /** IMP.init code, `imp` + 8 digits */
  impCode: unknown;
  params: unknown;
  mode: unknown;
  /** the merchant page's origin (location.origin) */
  origin: unknown;
  userAgent: string | null;
  /** the client's address (req.ip, after trustProxy): what the request counts against (decision 0059) */
  clientIp: string;
}

export type CreateSessionResult =
  | { ok: true; sessionId: string; mode: CheckoutMode; merchantUid: string }
  /** `retryAfterSeconds`: refused by the client's allowance (F1010) */
  | { ok: false; rsp: Rsp; mRedirectUrl: string | null; retryAfterSeconds?: number };

const failRsp = (merchantUid: string, errorCode: string, errorMsg: string, impUid: string | null = null): Rsp => ({
  success: false,
  imp_success: false,
  imp_uid: impUid,
  merchant_uid: merchantUid,
  error_code: errorCode,
  error_msg: errorMsg,
});

/**
 * The window's "being confirmed" answer (F1007): the PG may have charged, and Pier has not recorded
 * it (yet); reconciliation or a later post of the result settles it. `why` says which step it is.
 */
const confirmingRsp = (merchantUid: string, impUid: string, why: string): Rsp =>
  failRsp(merchantUid, RSP_ERRORS.unverified, `결제 결과를 확인하는 중입니다. 잠시 후 결제 내역을 확인해 주세요. (${why})`, impUid);

function originOf(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v ? v : null;
  } catch {
    return null;
  }
}

/**
 * Validates a request_pay before anything opens (spec §14.2, §4.1): merchant code, pg, pay_method,
 * amount, merchant_uid (generated `nobody_<ms>` when absent), already paid (F1002), prepared amount.
 * Refusals come back as the rsp the SDK hands to the callback (or to m_redirect_url).
 */
export async function createCheckoutSession(deps: Deps, input: CreateSessionInput): Promise<CreateSessionResult> {
  const now = deps.clock.now();
  const rawParams = (input.params && typeof input.params === 'object' ? input.params : {}) as Record<string, unknown>;
  const rawUid = typeof rawParams.merchant_uid === 'string' && rawParams.merchant_uid ? rawParams.merchant_uid : `nobody_${now}`;
  const rawRedirect = typeof rawParams.m_redirect_url === 'string' ? rawParams.m_redirect_url : null;
  const refuse = (code: string, msg: string, uid = rawUid): CreateSessionResult => ({ ok: false, rsp: failRsp(uid, code, msg), mRedirectUrl: rawRedirect });

  // counted before anything is looked up: a flood of unknown codes or bad params costs queries too
  const limited = await takeCheckoutTurn(deps, 'session', input.clientIp);
  if (limited) {
    const rsp = failRsp(rawUid, RSP_ERRORS.tooManyRequests, tooManyRequestsMessage(limited.retryAfterSeconds));
    return { ok: false, rsp, mRedirectUrl: rawRedirect, retryAfterSeconds: limited.retryAfterSeconds };
  }

  const code = typeof input.impCode === 'string' ? input.impCode : '';
  const merchant = /^imp\d{8}$/.test(code)
    ? await deps.store.db.selectFrom('merchants').select(['id', 'name']).where('merchant_code', '=', code).executeTakeFirst()
    : undefined;
  if (!merchant) return refuse(RSP_ERRORS.unknownMerchant, `등록되지 않은 가맹점 식별코드입니다: ${code || '(none)'} (IMP.init code unknown)`);

  const mode: CheckoutMode | null = input.mode === 'overlay' || input.mode === 'popup' || input.mode === 'redirect' ? input.mode : null;
  if (!mode) return refuse(RSP_ERRORS.badParams, 'mode must be overlay, popup or redirect');
  const origin = originOf(input.origin);
  if (!origin) return refuse(RSP_ERRORS.badParams, '결제를 요청한 페이지의 origin이 올바르지 않습니다. (the merchant page must be served over http(s))');

  let channel: ResolvedChannel;
  try {
    channel = await resolveWindowChannel(deps, merchant.id, rawParams.pg, rawParams.customer_uid);
  } catch (err) {
    if (err instanceof PierError) return refuse(RSP_ERRORS.unknownPg, `등록되지 않은 PG모듈 정보입니다. ${err.message}`);
    throw err;
  }
  const window = channel.connector.window;
  if (!window) return refuse(RSP_ERRORS.unknownPg, `${channel.row.provider}는 결제창을 지원하지 않습니다. (this PG has no payment window)`);

  let params: CheckoutParams;
  try {
    params = validateRequestPay(input.params, now, channel.connector.capabilities.windowPayMethods);
  } catch (err) {
    if (err instanceof ParamError) return refuse(err.errorCode, err.message);
    throw err;
  }
  if (params.customer_uid && window.issuesBillingKeys === false) {
    return refuse(RSP_ERRORS.badParams, `${channel.row.provider} 결제창에서는 빌링키를 발급할 수 없습니다. (this PG's window issues no billing keys; use POST /subscribe/customers/{customer_uid})`, params.merchant_uid);
  }
  if (mode === 'redirect' && !params.m_redirect_url) return refuse(RSP_ERRORS.badParams, 'm_redirect_url이 필요합니다. (redirect mode needs m_redirect_url)', params.merchant_uid);

  const { db } = deps.store;
  // Paid already (or an API charge in flight): refused. Another checkout open on the same merchant_uid
  // is not, nor an unpaid account from one: a window takes the merchant_uid only once the PG
  // approves, closing such an account then (decision 0058).
  const holder = await lockHolder(deps, merchant.id, params.merchant_uid);
  if (holder && !yieldsToWindowApproval(holder)) {
    const taken = merchantUidTakenError(holder);
    return refuse(taken.code, taken.message, params.merchant_uid);
  }
  const prepared = await preparedAmount(deps, merchant.id, params.merchant_uid);
  if (prepared !== null && prepared !== params.amount) return refuse(RSP_ERRORS.prepareMismatch, prepareMismatchMessage(prepared, params.amount), params.merchant_uid);

  const sessionId = `cs_${randomBytes(24).toString('base64url')}`;
  const t = Math.floor(now / 1000);
  await db
    .insertInto('checkout_sessions')
    .values({
      id: sessionId,
      merchant_id: merchant.id,
      channel_id: channel.row.id,
      merchant_uid: params.merchant_uid,
      imp_uid: null,
      pay_method: params.pay_method,
      amount: params.amount,
      mode,
      origin,
      params: JSON.stringify(params),
      user_agent: input.userAgent ? input.userAgent.slice(0, 256) : null,
      state: 'open',
      result: null,
      created_at: t,
      updated_at: t,
      expires_at: t + SESSION_TTL_SECONDS,
    })
    .execute();
  return { ok: true, sessionId, mode, merchantUid: params.merchant_uid };
}

/**
 * The window channel named by `pg` (resolveChannel 'window'). A billing-key request may also name an
 * API-kind channel by MID (`jtnet.tpaytest2m`: JTNET's billing MID serves the window and the API).
 */
async function resolveWindowChannel(deps: Deps, merchantId: string, pg: unknown, customerUid: unknown): Promise<ResolvedChannel> {
  if (pg !== undefined && pg !== null && typeof pg !== 'string') throw new PierError('invalid_parameter', 'pg must be a string');
  try {
    return await resolveChannel(deps, merchantId, pg as string | null | undefined, 'window');
  } catch (err) {
    if (!(err instanceof PierError) || !customerUid || typeof pg !== 'string' || !pg.includes('.')) throw err;
    return await resolveChannel(deps, merchantId, pg, 'api').catch(() => {
      throw err;
    });
  }
}

export async function loadCheckout(deps: Deps, sessionId: string): Promise<Checkout | null> {
  if (!/^cs_[A-Za-z0-9_-]{20,60}$/.test(sessionId)) return null;
  const session = await deps.store.db.selectFrom('checkout_sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
  if (!session) return null;
  return { session, params: JSON.parse(session.params) as CheckoutParams };
}

export function isExpired(deps: Deps, s: CheckoutSessionsTable): boolean {
  return unixSeconds(deps.clock) > Number(s.expires_at);
}

/** The rsp of a checkout whose lifetime ended before its PG window opened. */
export const expiredRsp = (merchantUid: string): Rsp => failRsp(merchantUid, RSP_ERRORS.expired, '결제 가능 시간이 지났습니다. 다시 시도해 주세요. (checkout session expired)');

export interface CheckoutChoice {
  cardCode?: unknown;
  /** the address of the browser that asks to open the PG window, counted against its allowance (decision 0059) */
  clientIp: string;
}

export interface WindowUrls {
  returnUrl: string;
  cancelUrl: string;
}

export type StartResult = { ok: true; form: WindowForm } | { ok: false; rsp: Rsp; message: string };

/**
 * The buyer confirmed Pier's checkout: record the attempt (without the merchant_uid lock, which its
 * approval takes) in a committed write, then hand back the form that opens the PG window (tPay webTxInit).
 */
export async function startCheckout(deps: Deps, sessionId: string, choice: CheckoutChoice, urls: (s: CheckoutSessionsTable) => WindowUrls): Promise<StartResult> {
  const c = await loadCheckout(deps, sessionId);
  if (!c) throw new PierError('not_found', '결제 세션을 찾을 수 없습니다. (unknown checkout session)');
  const { session, params } = c;
  if (session.state === 'done') return { ok: false, rsp: JSON.parse(session.result!), message: 'done' };
  if (session.state !== 'open') throw new PierError('refused', '이미 결제창이 열린 세션입니다. (the PG window was already opened for this session)');
  if (isExpired(deps, session)) {
    const rsp = expiredRsp(params.merchant_uid);
    await finishSession(deps.store.db, deps, sessionId, rsp);
    return { ok: false, rsp, message: rsp.error_msg as string };
  }
  // V1 checks the prepared amount before the PG window opens. The session was checked when it was
  // made, but it lives 30 minutes and the merchant may have registered (POST) or changed (PUT) the
  // amount since: check again here, where the window does open, and open nothing on a mismatch.
  const prepared = await preparedAmount(deps, session.merchant_id, params.merchant_uid);
  if (prepared !== null && prepared !== params.amount) {
    const rsp = failRsp(params.merchant_uid, RSP_ERRORS.prepareMismatch, prepareMismatchMessage(prepared, params.amount));
    await finishSession(deps.store.db, deps, sessionId, rsp);
    return { ok: false, rsp, message: rsp.error_msg as string };
  }
  const channel = await channelById(deps, session.channel_id);
  if (!channel?.connector.window) throw new PierError('refused', 'PG 설정이 삭제되었습니다. (the channel was removed)');

  let cardCode: string | null = null;
  let quotas = [0];
  if (params.pay_method === 'card') {
    const cards = enabledCards(params);
    if (typeof choice.cardCode !== 'string' || !cards.some((x) => x.code === choice.cardCode)) {
      throw new PierError('invalid_parameter', '카드사를 선택해 주세요. (choose one of the offered card companies)');
    }
    cardCode = choice.cardCode;
    // the PG window offers these months (lump sum always); Pier applies the 50,000 KRW and display.card_quota rules
    if (!params.customer_uid) quotas = allowedQuotas(params);
  }

  // paid since the session was made (or an API charge is in flight): no PG window opens for it. Another
  // window open on it does not stop this one; the first approval takes the merchant_uid (decision 0058)
  const holder = await lockHolder(deps, session.merchant_id, params.merchant_uid);
  if (holder && !yieldsToWindowApproval(holder)) {
    const taken = merchantUidTakenError(holder);
    const rsp = await finishSession(deps.store.db, deps, sessionId, failRsp(params.merchant_uid, taken.code, taken.message));
    return { ok: false, rsp, message: rsp.error_msg as string };
  }

  // A PG window opened is a payments row for good and, abandoned, inquiries at the merchant's PG
  // later: one address opens only so many (decision 0059). Refused, the checkout ends with F1010.
  const limited = await takeCheckoutTurn(deps, 'window', choice.clientIp);
  if (limited) {
    const rsp = await finishSession(deps.store.db, deps, sessionId, failRsp(params.merchant_uid, RSP_ERRORS.tooManyRequests, tooManyRequestsMessage(limited.retryAfterSeconds)));
    return { ok: false, rsp, message: rsp.error_msg as string };
  }

  const mobile = session.mode === 'redirect' || isMobileUserAgent(session.user_agent);
  const now = unixSeconds(deps.clock);
  const { impUid, locked } = await withNewImpUid(deps, async (impUid) => {
    const row = attemptRow(
      {
        impUid,
        merchantId: session.merchant_id,
        merchantUid: params.merchant_uid,
        channel,
        payMethod: params.pay_method,
        via: mobile ? 'mobile' : 'pc',
        pgState: 'window',
        amount: params.amount,
        taxFree: params.tax_free,
        vatAmount: params.vat_amount,
        name: params.name,
        buyer: { name: params.buyer_name, email: params.buyer_email, tel: params.buyer_tel, addr: params.buyer_addr, postcode: params.buyer_postcode },
        customData: params.custom_data,
        noticeUrl: params.notice_url,
        userAgent: session.user_agent,
        cardCode,
        cardQuota: 0,
        customerUid: params.customer_uid,
        customerUidUsage: params.customer_uid ? (params.amount > 0 ? 'payment' : 'issue') : null,
      },
      now,
    );
    const locked = await insertAttempt(deps, row, async (trx) => {
      const res = await trx
        .updateTable('checkout_sessions')
        .set({ state: 'started', imp_uid: impUid, updated_at: now })
        .where('id', '=', sessionId)
        .where('state', '=', 'open')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw new PierError('refused', '이미 결제창이 열린 세션입니다. (the PG window was already opened for this session)');
    });
    return { impUid, locked };
  });
  // the attempt holds no lock yet (attemptRow), so only an imp_uid drawn twice can stop its insert
  if (!locked.ok) throw new Error(`window attempt ${impUid} was refused a merchant_uid lock it does not take`);

  return { ok: true, form: windowFormOf(channel, { ...session, imp_uid: impUid }, params, { impUid, cardCode, quotas, mobile }, urls) };
}

/** The form (or SDK call) that opens the PG window of a checkout's attempt. */
function windowFormOf(
  channel: ResolvedChannel,
  session: CheckoutSessionsTable,
  params: CheckoutParams,
  a: { impUid: string; cardCode: string | null; quotas: number[]; mobile: boolean },
  urls: (s: CheckoutSessionsTable) => WindowUrls,
): WindowForm {
  const u = urls(session);
  return channel.connector.window!.startWindow(channel.credentials, {
    moid: a.impUid,
    amount: params.amount,
    goodsName: params.name ?? params.merchant_uid,
    payMethod: params.pay_method,
    buyer: { name: params.buyer_name, email: params.buyer_email, tel: params.buyer_tel, addr: params.buyer_addr, postcode: params.buyer_postcode },
    mallUserId: params.customer_uid ?? undefined,
    returnUrl: u.returnUrl,
    cancelUrl: u.cancelUrl,
    mobile: a.mobile,
    cardQuotas: a.quotas.filter((q) => q > 0),
    cardCode: a.cardCode,
    billing: params.customer_uid !== null,
    vbankDueMs: params.vbank_due_ms,
    digital: params.digital,
    language: params.language,
    taxFree: params.tax_free,
  });
}

/** How long after the first press of "pay" a second one opens the same PG window again (a double click, a slow answer). */
export const REOPEN_SECONDS = 10;

/**
 * "Pay" pressed again on a checkout whose PG window was already opened: the buyer's browser sent
 * the checkout's form twice (a double click before checkout.js disabled the button, a slow answer
 * clicked again, a form resubmitted after Back). The first press opened the window and recorded
 * the attempt; the second is answered with the same attempt's window again (`form`), so the buyer
 * goes on paying. It never closes the checkout (that took the buyer's payment away and told the
 * merchant the buyer had cancelled: decision 0086). The window is opened again only while its
 * attempt is still open in it (`window`), and only within REOPEN_SECONDS of the first press, for the
 * same order id and amount: a form the PG would take again anyway, reposted (tPay signs only amt,
 * mid and moid), and whose approval, once, is recorded like any. The bound keeps the PG window
 * within the lifetime Pier counts from the attempt's start (window-confirms.ts windowOverAtMs,
 * whose 30 s margin absorbs it). Otherwise `in_progress`, the page a GET shows; `not_started` when
 * no window was opened for the session (the caller's refusal stands).
 */
export async function reopenStartedWindow(
  deps: Deps,
  sessionId: string,
  urls: (s: CheckoutSessionsTable) => WindowUrls,
): Promise<{ kind: 'form'; form: WindowForm } | { kind: 'in_progress' } | { kind: 'not_started' }> {
  const c = await loadCheckout(deps, sessionId);
  if (!c || c.session.state !== 'started' || !c.session.imp_uid) return { kind: 'not_started' };
  const { session, params } = c;
  const attempt = await deps.store.db
    .selectFrom('payments')
    .select(['status', 'pg_state', 'card_code', 'channel_id', 'started_at'])
    .where('imp_uid', '=', session.imp_uid!)
    .executeTakeFirst();
  const pressedAfter = unixSeconds(deps.clock) - Number(attempt?.started_at ?? 0);
  if (!attempt || attempt.status !== 'ready' || attempt.pg_state !== 'window' || isExpired(deps, session) || pressedAfter > REOPEN_SECONDS) return { kind: 'in_progress' };
  const channel = attempt.channel_id ? await channelById(deps, attempt.channel_id) : undefined;
  if (!channel?.connector.window) return { kind: 'in_progress' };
  const mobile = session.mode === 'redirect' || isMobileUserAgent(session.user_agent);
  const quotas = params.pay_method === 'card' && !params.customer_uid ? allowedQuotas(params) : [0];
  const form = windowFormOf(channel, session, params, { impUid: session.imp_uid!, cardCode: attempt.card_code, quotas, mobile }, urls);
  return { kind: 'form', form };
}

/** Stores the rsp on the session, once: the first result wins, later ones read it back. */
async function finishSession(db: Kysely<Database> | Transaction<Database>, deps: Deps, sessionId: string, rsp: Rsp): Promise<Rsp> {
  await db
    .updateTable('checkout_sessions')
    .set({ state: 'done', result: JSON.stringify(rsp), updated_at: unixSeconds(deps.clock) })
    .where('id', '=', sessionId)
    .where('state', '!=', 'done')
    .execute();
  const s = await db.selectFrom('checkout_sessions').select('result').where('id', '=', sessionId).executeTakeFirstOrThrow();
  return JSON.parse(s.result!) as Rsp;
}

/** Builds the V1 rsp of a recorded window payment. */
export function toRsp(p: V1Payment, err?: { code: string; message: string }): Rsp {
  const issuedVbank = p.status === 'ready' && p.pay_method === 'vbank' && !!p.vbank_num;
  const success = !err && (p.status === 'paid' || issuedVbank);
  const rsp: Rsp = {
    success,
    imp_success: success,
    imp_uid: p.imp_uid,
    merchant_uid: p.merchant_uid,
    pay_method: p.pay_method,
    // an issued virtual account reports the amount to deposit, as V1 does (merchant code reads it as such)
    paid_amount: p.status === 'paid' || issuedVbank ? p.amount : 0,
    status: p.status === 'cancelled' ? 'paid' : p.status,
    currency: p.currency,
    pg_provider: p.pg_provider,
    pg_type: 'payment',
    paid_at: p.paid_at,
    apply_num: p.apply_num ?? undefined,
    card_name: p.card_name,
    card_number: p.card_number,
    card_quota: p.card_quota,
    bank_name: p.bank_name,
    customer_uid: p.customer_uid,
  };
  // keys iamport-typings types as optional strings are left out rather than null
  const optional: Record<string, string | null> = {
    name: p.name,
    pg_tid: p.pg_tid,
    receipt_url: p.receipt_url,
    buyer_name: p.buyer_name,
    buyer_email: p.buyer_email,
    buyer_tel: p.buyer_tel,
    buyer_addr: p.buyer_addr,
    buyer_postcode: p.buyer_postcode,
  };
  for (const [k, v] of Object.entries(optional)) if (v !== null) rsp[k] = v;
  if (p.apply_num === null) delete rsp.apply_num;
  if (p.custom_data !== null) {
    try {
      rsp.custom_data = JSON.parse(p.custom_data);
    } catch {
      rsp.custom_data = p.custom_data;
    }
  }
  if (p.pay_method === 'vbank' && p.vbank_num) {
    Object.assign(rsp, { vbank_num: p.vbank_num, vbank_name: p.vbank_name ?? undefined, vbank_holder: p.vbank_holder, vbank_date: p.vbank_date, vbank_code: p.vbank_code });
  }
  if (err) Object.assign(rsp, { error_code: err.code, error_msg: err.message });
  return rsp;
}

/** `[code]message` as recorded in fail_reason, split back for the rsp. */
function errorOf(p: V1Payment): { code: string; message: string } | undefined {
  if (p.status !== 'failed') return undefined;
  const m = /^\[([^\]]*)\](.*)$/s.exec(p.fail_reason ?? '');
  return m ? { code: m[1], message: m[2] } : { code: 'F0000', message: p.fail_reason ?? '결제에 실패하였습니다.' };
}

async function rspOfPayment(deps: Deps, impUid: string): Promise<Rsp> {
  const p = (await loadV1Payment(deps.store.db, impUid))!;
  if (p.status === 'ready' && p.pay_method !== 'vbank') {
    return toRsp(p, { code: RSP_ERRORS.unverified, message: '결제 결과를 확인하는 중입니다. 잠시 후 결제 내역을 확인해 주세요. (the PG outcome is not known yet)' });
  }
  return toRsp(p, errorOf(p));
}

/**
 * The PG posted the buyer's browser back to Pier's return URL with the window's result: verify it
 * through the connector, record it, acknowledge it to the PG, and answer the rsp for the SDK.
 * Idempotent: a second post of the same session answers the first rsp.
 */
export async function completeCheckout(deps: Deps, sessionId: string, posted: Record<string, string>): Promise<{ checkout: Checkout; rsp: Rsp }> {
  const c = await loadCheckout(deps, sessionId);
  if (!c) throw new PierError('not_found', '결제 세션을 찾을 수 없습니다. (unknown checkout session)');
  const { session, params } = c;
  if (session.state === 'done' && !session.imp_uid) return { checkout: c, rsp: JSON.parse(session.result!) };
  if (session.state !== 'started' && session.state !== 'done') throw new PierError('refused', '결제창이 열리지 않은 세션입니다. (no PG window was opened for this session)');
  const impUid = session.imp_uid!;
  // tPay approves (or issues an account) in its window before the browser posts anything: until the
  // post is read as an authentication Pier still has to approve (NICE), the PG may have acted
  const progress: WindowProgress = { pgMayHaveActed: true };
  try {
    return { checkout: c, rsp: await handleWindowResult(deps, c, impUid, posted, progress) };
  } catch (err) {
    if (err instanceof PierError) throw err;
    return { checkout: c, rsp: await windowResultFailed(deps, c, impUid, progress, err) };
  }
}

/** How far a post of the window's result got: whether the PG may have charged or issued anything by now. */
interface WindowProgress {
  pgMayHaveActed: boolean;
}

/**
 * The database failed while a post of the window's result was handled (reading the channel, taking
 * the checkout's inquiry, recording an account, a decline, a buyer's cancel, a billing key, a late
 * result; decision 0119). Whatever was written stands and the attempt stays open, which
 * reconciliation or the abandoned-window sweep settles by asking the PG. The buyer gets the
 * checkout's result page, never V1's JSON 500: "being confirmed" (F1007, with the imp_uid) when the
 * PG may have charged or issued an account, "not paid, try again" when nothing was asked of it
 * (NICE's authentication, before Pier's approve). The database's words go to the error log only.
 */
async function windowResultFailed(deps: Deps, c: Checkout, impUid: string, progress: WindowProgress, err: unknown): Promise<Rsp> {
  const { params, session } = c;
  // the stop refused a PG call the handling would have made next (decision 0130): not a failure
  const stopped = err instanceof PgCallRefusedAtStop;
  if (stopped) deps.logger.warn({ imp_uid: impUid, pg_may_have_acted: progress.pgMayHaveActed, err: err.message }, 'stopping: a window result left for reconciliation');
  else {
    deps.logger.error(
      { imp_uid: impUid, pg_may_have_acted: progress.pgMayHaveActed, err: err instanceof Error ? err.message : String(err) },
      'handling a window result failed; the attempt stays open for reconciliation',
    );
  }
  if (!progress.pgMayHaveActed) {
    // the session stays `started`: the same result posted again may still be approved
    const why = stopped ? 'the server is stopping; nothing was charged' : 'the result could not be processed; nothing was charged';
    return failRsp(params.merchant_uid, RSP_ERRORS.unverified, `결제를 완료하지 못했습니다. 결제되지 않았으니 다시 시도해 주세요. (${why})`, impUid);
  }
  const rsp = confirmingRsp(params.merchant_uid, impUid, stopped ? 'the server is stopping; the PG is asked again later' : 'the result could not be recorded yet');
  // a late result leaves the session's first rsp as it is
  return session.state === 'done' ? rsp : endCheckout(deps, session.id, impUid, rsp);
}

async function handleWindowResult(deps: Deps, c: Checkout, impUid: string, posted: Record<string, string>, progress: WindowProgress): Promise<Rsp> {
  const { session, params } = c;
  const sessionId = session.id;
  const channel = await channelById(deps, session.channel_id);
  if (!channel?.connector.window) throw new PierError('refused', 'PG 설정이 삭제되었습니다. (the channel was removed)');
  if (session.state === 'done') return lateWindowResult(deps, c, channel, impUid, posted);

  let result: WindowResult;
  try {
    result = channel.connector.window.readWindowResult(channel.credentials, posted, { moid: impUid, amount: params.amount });
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    // Forged or garbled: record nothing from it; the PG will be asked what really happened.
    deps.logger.warn({ imp_uid: impUid, err: err.message }, 'window result failed verification; left for reconciliation');
    await markInDoubt(deps, impUid);
    const rsp = failRsp(params.merchant_uid, RSP_ERRORS.unverified, '결제 결과를 검증하지 못했습니다. 결제 내역을 확인해 주세요. (the PG result could not be verified)', impUid);
    return finishSession(deps.store.db, deps, sessionId, rsp);
  }

  if (result.outcome === 'authenticated') {
    const approved = await approveAuthenticated(deps, c, channel, impUid, result.pgTid, progress);
    // another post of this result is approving it: its answer, not this one, ends the session
    if (!approved) return rspOfPayment(deps, impUid);
    return endCheckout(deps, sessionId, impUid, approved);
  }
  // Posts sent at once all find the checkout started, and each asked the PG: the checkout's few
  // inquiries (decision 0059) held only once a post had ended it. Beyond them a post asks nothing
  // and ends nothing: a post that asked ends the checkout, and the attempt, open or failed, is
  // reconciliation's or its recheck's as after any post (decision 0092). Pier's own approve (NICE)
  // is not a post's inquiry: its claim lets one post make it.
  if (!(await takeCheckoutInquiry(deps, sessionId))) {
    deps.logger.warn({ imp_uid: impUid }, 'window result not checked with the PG: this checkout has used its inquiries');
    return (await checkoutResult(deps, sessionId)) ?? (await rspOfPayment(deps, impUid));
  }
  const rsp = await recordWindowResult(deps, c, channel, impUid, result);
  return endCheckout(deps, sessionId, impUid, rsp);
}

/** `approveAnswered`: `result` is the answer of Pier's own approve of this attempt (approveAuthenticated), not a post. */
async function recordWindowResult(deps: Deps, c: Checkout, channel: ResolvedChannel, impUid: string, result: WindowResult, approveAnswered = false): Promise<Rsp> {
  const { db } = deps.store;
  const { params } = c;
  const now = unixSeconds(deps.clock);

  switch (result.outcome) {
    case 'approved':
      return recordingWindowApproval(deps, params.merchant_uid, impUid, async () => {
        // tPay signs only amt and moid of a result, not resultCd, card or installments: take the
        // approval from the PG itself (trans_search on the same moid, tid and amount), never the post.
        const started = await db.selectFrom('payments').select('started_at').where('imp_uid', '=', impUid).executeTakeFirst();
        // The PG says it approved: from here a crash must leave the attempt to reconciliation at once,
        // not in `window` until the session's lifetime is over (the PG may net-cancel by then).
        await markInDoubt(deps, impUid);
        // NICE: Pier's approve was this post's PG call; once stopping, the inquiry confirming it is
        // not sent, and the attempt, in doubt, is reconciliation's (decision 0130)
        if (approveAnswered) refusePgCallWhenStopping(deps.stopping, 'the inquiry confirming the approval');
        let found: FoundAtPg | null = null;
        try {
          const r = await channel.connector.inquire(channel.credentials, { moid: impUid, pgTid: result.pgTid, aroundMs: Number(started?.started_at ?? now) * 1000 });
          if (r.found && isApprovalAtPg(r, params.pay_method) && r.pgTid === result.pgTid && r.amount === params.amount) found = r;
        } catch (err) {
          deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'could not confirm a window approval with the PG');
        }
        if (!found) {
          await markInDoubt(deps, impUid);
          return confirmingRsp(params.merchant_uid, impUid, 'the PG did not confirm the approval yet');
        }
        await recordPgApproval(deps, attemptOf(c, channel, impUid), found, { bank: { bankCode: result.bankCode, bankName: result.bankName } });
        return rspOfPayment(deps, impUid);
      });
    case 'vbank_issued':
      return settleVbankIssued(deps, c, channel, impUid, result.pgTid);
    case 'billing_key_issued':
      if (!params.customer_uid) {
        // a key result in a checkout that asked for a payment: forged or misrouted, never a key
        deps.logger.warn({ imp_uid: impUid }, 'billing-key result posted to a checkout that did not ask for one');
        return settleNonSuccess(deps, c, channel, impUid, `[${RSP_ERRORS.unverified}]빌링키 발급을 요청하지 않은 결제입니다. (a billing-key result for a checkout that did not ask for one)`);
      }
      return recordWindowBillingKey(deps, c, channel, impUid, result);
    case 'declined':
      return settleNonSuccess(deps, c, channel, impUid, `[${result.code}]${result.message}`, result.pgTid, { approveAnswered });
    case 'cancelled_by_buyer':
      return settleNonSuccess(deps, c, channel, impUid, `[${RSP_ERRORS.cancelled}]${CANCELLED_RSP_MESSAGE}`);
    case 'authenticated':
      throw new Error('an authenticated window result is approved (approveAuthenticated), not recorded as it stands');
  }
}

/**
 * Recording a window approval the PG has made (tPay approves in its window, NICE on Pier's approve).
 * When the database fails it (a lock held past the lock wait or statement_timeout, a connection
 * ended mid-statement), nothing of the approval is recorded: the attempt stays open (in doubt, or
 * in `window` if even that mark failed, which the abandoned-window sweep hands over), holding its
 * merchant_uid, and reconciliation asks the PG and records it paid, with its webhook; a later post
 * of the result records it too. The buyer gets the window's "being confirmed" answer with the
 * imp_uid, as when the PG's confirmation is missing, never a 500; the database's own words go to
 * the error log only (decision 0119). A V1 refusal (PierError) passes.
 */
async function recordingWindowApproval(deps: Deps, merchantUid: string, impUid: string, record: () => Promise<Rsp>): Promise<Rsp> {
  try {
    return await record();
  } catch (err) {
    // a stop's refusal is answered by completeCheckout's seam (windowResultFailed), as any other post's
    if (err instanceof PierError || err instanceof PgCallRefusedAtStop) throw err;
    deps.logger.error({ imp_uid: impUid, err: err instanceof Error ? err.message : String(err) }, 'recording a window approval failed; the attempt stays open for reconciliation');
    return confirmingRsp(merchantUid, impUid, 'the approval could not be recorded yet');
  }
}

/**
 * Ends the checkout with its rsp after a PG result was handled. When the database fails that write
 * too (it has just failed the record, decision 0119), the buyer still gets `rsp`, which says what is
 * recorded (or that it is being confirmed); the session stays `started`, and a later post of the
 * result, or closing the window, ends it. The database's words go to the error log only.
 */
async function endCheckout(deps: Deps, sessionId: string, impUid: string, rsp: Rsp): Promise<Rsp> {
  try {
    return await finishSession(deps.store.db, deps, sessionId, rsp);
  } catch (err) {
    if (err instanceof PierError) throw err;
    deps.logger.error({ imp_uid: impUid, err: err instanceof Error ? err.message : String(err) }, 'ending a checkout with its result failed; answered the result without it');
    return rsp;
  }
}

/**
 * The buyer authenticated in the PG window and the PG waits for Pier's approval (NICE Server 승인).
 * Record, call, record: the attempt is marked in doubt first, so a crash or a timeout during the
 * approve call leaves it to reconciliation (inquiry by order id); the approve is sent with Pier's
 * own amount; its answer (signature verified by the connector) is then taken only once an inquiry
 * on the same tid, amount and order id agrees (the `approved` path below), and recorded.
 */
async function approveAuthenticated(deps: Deps, c: Checkout, channel: ResolvedChannel, impUid: string, pgTid: string, progress: WindowProgress): Promise<Rsp | null> {
  const { params } = c;
  // NICE charges only on Pier's approve: a failure before the claim below charged nothing for this post
  progress.pgMayHaveActed = false;
  const approve = channel.connector.window?.approveWindowResult;
  if (!approve) throw new Error(`${channel.row.provider} answered an authenticated window result but cannot approve it`);
  // Pier approves here itself, so a prepared amount changed while the window was open is refused
  // before anything is charged (the tPay path, where the PG approves, refunds instead: recordPgApproval)
  const changed = await preparedAmountViolation(deps, impUid, params.amount);
  if (changed) {
    // with a recheck: refused Pier's approve, the order may still have been charged through another
    // attempt that approved its tid (a moved result whose answer was lost: decision 0078)
    if (await failWindowAttempt(deps, impUid, `[${RSP_ERRORS.prepareMismatch}]${prepareMismatchMessage(changed.prepared, params.amount)}`)) return rspOfPayment(deps, impUid);
    return null;
  }
  // One approve per attempt: the post that claims the attempt (still in the window, or in doubt
  // after an unverifiable post, which leaves no tid) writes the tid it approves; a replayed or
  // concurrent post finds it taken (null). A closed attempt is never claimed. In doubt from now:
  // reconciliation waits a full PG read timeout past next_check_at, so never asks mid-call.
  // The claim takes the merchant_uid too (decision 0058): Pier charges nothing for one another
  // payment holds, and the attempt fails with that payment's error (NICE charges only on the approve).
  // An unpaid window account holding it is closed only by what NICE approves: claimed without the
  // merchant_uid, the approval's record takes it (window-settlement.ts adoptLateApproval).
  const claimWith = (lock: string | null) =>
    deps.store.db
      .updateTable('payments')
      .set({ pg_state: 'in_doubt', pg_tid: pgTid, merchant_uid_lock: lock, next_check_at: dbNow(deps.store), updated_at: unixSeconds(deps.clock) })
      .where('imp_uid', '=', impUid)
      .where((eb) => eb.or([eb('pg_state', '=', 'window'), eb.and([eb('pg_state', '=', 'in_doubt'), eb('pg_tid', 'is', null)])]))
      .executeTakeFirst();
  // Once the stop has begun, nothing is approved: the approve would be followed by the inquiry that
  // confirms it, which a stop does not send, and the buyer left with "being confirmed" for a charge
  // made during the stop. Unclaimed, nothing is charged: the buyer gets "not paid, try again" and the
  // same result posted again (to another process, or after the restart) is approved (decision 0130).
  refusePgCallWhenStopping(deps.stopping, "Pier's approve");
  let claim = await withMerchantUid(deps, c.session.merchant_id, params.merchant_uid, () => claimWith(params.merchant_uid), { yieldVbank: false });
  if (!claim.ok && claim.holder && yieldsToWindowApproval(claim.holder)) claim = { ok: true, value: await claimWith(null) };
  // claimed or not, from here another post's approve (or this one's) may have charged the order
  progress.pgMayHaveActed = true;
  if (!claim.ok) {
    // Pier approves nothing for this attempt, but that does not make its order uncharged: its tid
    // may have been approved through another attempt (its result moved there, the answer lost), the
    // very one that may hold the merchant_uid now. The recheck failWindowAttempt writes asks NICE
    // later (decision 0078).
    if (await failWindowAttempt(deps, impUid, `[${claim.error.code}]${claim.error.message}`)) return rspOfPayment(deps, impUid);
    return null;
  }
  if (Number(claim.value.numUpdatedRows) !== 1) return null;
  let answer;
  try {
    answer = await approve.call(channel.connector.window, channel.credentials, { pgTid, moid: impUid, amount: params.amount });
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    // the PG may have approved: reconciliation asks it by order id once its read timeout has passed
    deps.logger.warn({ imp_uid: impUid, err: err.message, in_doubt: err.inDoubt }, 'window approval call failed; left for reconciliation');
    return confirmingRsp(params.merchant_uid, impUid, 'the PG did not answer the approval');
  }
  if (answer.outcome === 'another_order') return settleMovedAuthResult(deps, c, channel, impUid, answer);
  if (answer.outcome === 'vbank_issued') {
    // the account is recorded only as the PG reports it on an inquiry by the same tid and amount;
    // once stopping that inquiry is not sent: the attempt, in doubt, is reconciliation's (decision 0130)
    refusePgCallWhenStopping(deps.stopping, 'the inquiry confirming the virtual account');
    let found;
    try {
      found = await channel.connector.inquire(channel.credentials, { moid: impUid, pgTid, aroundMs: unixSeconds(deps.clock) * 1000 });
    } catch (err) {
      deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'could not confirm an issued virtual account with the PG');
    }
    if (!found?.found || found.state !== 'awaiting_deposit' || found.pgTid !== answer.pgTid || found.amount !== params.amount) {
      return confirmingRsp(params.merchant_uid, impUid, 'the PG did not confirm the virtual account yet');
    }
    return recordVbankFromPg(deps, c, channel, impUid, found);
  }
  return recordWindowResult(deps, c, channel, impUid, answer, true);
}

/**
 * The PG approved the tid this attempt claimed, but for the order it was authenticated for: the
 * result came from another window of the same PG account and amount (the PG's returnUrl signature
 * binds neither tid nor order id). This attempt's order was not charged, so it fails (its
 * merchant_uid freed; nothing but Pier's approve can charge it, and it is claimed no more). The
 * order that was charged (an attempt on any channel of that PG account) gets an acknowledgement
 * row with that tid, whose job asks the PG and records the approval, or refunds it when its
 * merchant_uid is paid otherwise (decision 0078): Pier made that approval, and its own attempt may
 * already be failed (refused the merchant_uid this attempt held), where nothing else asks about it.
 */
async function settleMovedAuthResult(deps: Deps, c: Checkout, channel: ResolvedChannel, impUid: string, answer: { pgTid: string; moid: string }): Promise<Rsp> {
  // the charged attempt is on a channel of the same PG account: this one, or another merchant's
  // that shares the key pair (sub-merchants of one contract, the sandbox's published pair)
  const charged = await deps.store.db
    .selectFrom('payments')
    .innerJoin('pg_channels', 'pg_channels.id', 'payments.channel_id')
    .select(['payments.imp_uid', 'payments.channel_id'])
    .where('payments.imp_uid', '=', answer.moid)
    .where('pg_channels.provider', '=', channel.row.provider)
    .where('pg_channels.mid', '=', channel.row.mid)
    .executeTakeFirst();
  if (charged?.channel_id) {
    deps.logger.warn({ imp_uid: impUid, charged_imp_uid: charged.imp_uid, tid: answer.pgTid }, "a window result moved from another attempt: the PG approved that attempt's order; recording it there");
    await enqueueWindowConfirm(deps, charged.imp_uid, charged.channel_id, answer.pgTid);
  } else {
    deps.logger.error({ imp_uid: impUid, order_id: answer.moid.slice(0, 64), tid: answer.pgTid }, 'the PG approved a moved window result for an order Pier does not know on this PG account; left for an operator');
  }
  await failWindowAttempt(deps, impUid, `[${RSP_ERRORS.unverified}]다른 결제의 결제창 결과입니다. 이 결제는 승인되지 않았습니다. (the window result was another payment's; nothing was charged for this one)`, null, { windowOver: true });
  return rspOfPayment(deps, impUid);
}

/**
 * The PG's answer is an approval that a posted one (tPay 3001, 4000, A000; tPay signs none of these
 * codes) may be recorded on: paid, or paid and refunded since. A virtual account is not, whatever
 * code the browser posts: awaiting its deposit it holds no money (a genuine 4100 post rewritten as
 * 3001 was recorded paid, with its `paid` webhook), and on a vbank checkout a cancelled one is an
 * account closed at the PG, as reconciliation reads it (settleWindowAttempt). Such a post is left to
 * what Pier asks the PG itself: reconciliation records the account, the recheck closes one issued
 * for a failed attempt (decision 0092).
 */
const isApprovalAtPg = (found: FoundAtPg, payMethod: CheckoutParams['pay_method']): boolean =>
  found.state === 'paid' || (found.state === 'cancelled' && payMethod !== 'vbank');

const attemptOf = (c: Checkout, channel: ResolvedChannel, impUid: string): WindowAttempt => ({
  impUid,
  merchantId: c.session.merchant_id,
  amount: c.params.amount,
  channel,
  params: c.params,
});

/**
 * A virtual account the browser says the PG issued (tPay `4100`). tPay signs only `amt` and `moid` of
 * the post: its tid, bank, account number, holder and due date are plain fields a buyer can rewrite
 * (a cancel turned into a 4100 with an account of the buyer's choosing, or a genuine account's number
 * swapped, which the merchant would then show its customers). So, as for approvals, the post only
 * says "ask the PG": the account recorded is the one the PG reports on an inquiry by the attempt's
 * order id, and only when that shows an account awaiting its deposit with the posted tid and Pier's
 * amount. Nothing at the PG: the attempt fails (merchant_uid freed, recheck written). Any other
 * answer leaves the attempt in doubt, and reconciliation records what the PG holds.
 */
async function settleVbankIssued(deps: Deps, c: Checkout, channel: ResolvedChannel, impUid: string, pgTid: string): Promise<Rsp> {
  const { params } = c;
  if (params.pay_method !== 'vbank') {
    // a card (or transfer, phone) checkout never becomes an "issued account" holding its merchant_uid
    deps.logger.warn({ imp_uid: impUid }, 'virtual-account result posted to a checkout that did not ask for one');
    return settleNonSuccess(deps, c, channel, impUid, `[${RSP_ERRORS.unverified}]가상계좌 발급을 요청하지 않은 결제입니다. (a virtual-account result for a checkout that did not ask for one)`);
  }
  const started = await deps.store.db.selectFrom('payments').select('started_at').where('imp_uid', '=', impUid).executeTakeFirst();
  // the PG may have issued an account: from here a crash leaves the attempt to reconciliation at once
  await markInDoubt(deps, impUid);
  const unconfirmed = () =>
    confirmingRsp(params.merchant_uid, impUid, 'the PG did not confirm the virtual account yet');
  let found;
  try {
    // by order id, not by the posted tid: a rewritten tid must not hide an account the PG did issue
    found = await channel.connector.inquire(channel.credentials, { moid: impUid, aroundMs: Number(started?.started_at ?? unixSeconds(deps.clock)) * 1000 });
  } catch (err) {
    deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'could not confirm a virtual account with the PG; left for reconciliation');
    return unconfirmed();
  }
  if (!found.found || found.state === 'failed') {
    deps.logger.warn({ imp_uid: impUid }, 'virtual-account result refused: the PG issued no account for this payment');
    await failWindowAttempt(deps, impUid, `[${RSP_ERRORS.unverified}]PG사에서 확인되지 않은 가상계좌입니다. (the PG issued no virtual account for this payment)`, found.found ? found.pgTid : null);
    return rspOfPayment(deps, impUid);
  }
  if (found.state !== 'awaiting_deposit' || found.pgTid !== pgTid || found.amount !== params.amount) {
    deps.logger.warn({ imp_uid: impUid, state: found.state }, 'virtual-account result differs from what the PG holds; left for reconciliation');
    return unconfirmed();
  }
  return recordVbankFromPg(deps, c, channel, impUid, found);
}

/**
 * Records the account the PG reported (recordIssuedVbank) and acknowledges it to the PG: the
 * confirm row is written first, as for approvals, so a recorded account is always acknowledged.
 */
async function recordVbankFromPg(deps: Deps, c: Checkout, channel: ResolvedChannel, impUid: string, found: FoundAtPg): Promise<Rsp> {
  // an account for an amount the merchant no longer prepares (PUT while the window was open) is
  // closed at the PG rather than shown to the buyer; if the PG will not close it, it is recorded
  const changed = await preparedAmountViolation(deps, impUid, found.amount);
  if (changed && channel.connector.revokeVbank) {
    try {
      const r = await channel.connector.revokeVbank(channel.credentials, { pgTid: found.pgTid, moid: impUid, amount: found.amount, reason: `사전 등록 금액 변경 (${RSP_ERRORS.prepareMismatch})` });
      if (r.outcome === 'refunded') {
        await failWindowAttempt(deps, impUid, `[${RSP_ERRORS.prepareMismatch}]${prepareMismatchMessage(changed.prepared, found.amount, true)}`, found.pgTid, { windowOver: true });
        return rspOfPayment(deps, impUid);
      }
      deps.logger.error({ imp_uid: impUid, code: r.code }, 'PG refused to close a virtual account issued for a changed prepared amount');
    } catch (err) {
      deps.logger.error({ imp_uid: impUid, err: (err as Error).message }, 'could not close a virtual account issued for a changed prepared amount');
    }
  }
  await enqueueWindowConfirm(deps, impUid, channel.row.id, found.pgTid);
  let recorded;
  try {
    recorded = await recordWindowVbank(deps, channel, { imp_uid: impUid, merchant_id: c.session.merchant_id, merchant_uid: c.params.merchant_uid }, found);
  } catch (err) {
    // another payment holds the merchant_uid and the PG would not close the account, or the database
    // failed the record (decision 0119): left open, asked again
    deps.logger.error({ imp_uid: impUid, err: (err as Error).message }, 'recording a window virtual account failed (the database, or the PG would not close one issued for a merchant_uid another payment holds); left open');
    return confirmingRsp(c.params.merchant_uid, impUid, 'the virtual account could not be settled yet');
  }
  if (recorded) await confirmNow(deps, impUid, found.pgTid);
  return rspOfPayment(deps, impUid);
}

/**
 * A decline, a buyer cancel or a result that cannot stand (tPay does not sign resultCd): recorded
 * only once the PG confirms it holds no approval for the attempt. An approval it does hold is
 * recorded as paid; an unreachable PG leaves the attempt in doubt for reconciliation.
 */
async function settleNonSuccess(deps: Deps, c: Checkout, channel: ResolvedChannel, impUid: string, reason: string, pgTid: string | null = null, opts: { approveAnswered?: boolean } = {}): Promise<Rsp> {
  const started = await deps.store.db.selectFrom('payments').select('started_at').where('imp_uid', '=', impUid).executeTakeFirst();
  let found;
  try {
    found = await channel.connector.inquire(channel.credentials, { moid: impUid, aroundMs: Number(started?.started_at ?? unixSeconds(deps.clock)) * 1000 });
  } catch (err) {
    deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'could not confirm a window result with the PG; left for reconciliation');
    await markInDoubt(deps, impUid);
    return confirmingRsp(c.params.merchant_uid, impUid, 'the PG did not confirm the result yet');
  }
  if (found.found && found.state === 'awaiting_deposit') {
    // The PG issued an account for this attempt (the buyer saw it), whatever the post says: record it
    // as the PG reports it, never as an approval (nothing was paid into it yet).
    if (c.params.pay_method === 'vbank' && found.amount === c.params.amount) return recordVbankFromPg(deps, c, channel, impUid, found);
    await markInDoubt(deps, impUid);
    return confirmingRsp(c.params.merchant_uid, impUid, 'the PG result differs from the post');
  }
  if (found.found && found.state !== 'failed') {
    if (found.amount !== c.params.amount || c.params.customer_uid) {
      await markInDoubt(deps, impUid);
      return confirmingRsp(c.params.merchant_uid, impUid, 'the PG result differs from the post');
    }
    deps.logger.warn({ imp_uid: impUid }, 'the browser posted a non-success result for an approval the PG holds; recording the approval');
    await recordPgApproval(deps, attemptOf(c, channel, impUid), found);
    return rspOfPayment(deps, impUid);
  }
  // NICE holding nothing says nothing while Pier's own approve of the attempt is in flight (it may
  // be about to charge): a post (a cancel, a decline, NICE signs neither) fails only an attempt not
  // claimed for an approve; the approve's own decline, or reconciliation, settles a claimed one
  await failWindowAttempt(deps, impUid, reason, pgTid ?? (found.found ? found.pgTid : null), { unlessClaimed: !opts.approveAnswered });
  return rspOfPayment(deps, impUid);
}

/**
 * A PG result posted for a checkout Pier already closed (the buyer closed the window, then paid in
 * it, or the PG was slow). It is verified like any result; an approval is never dropped: the PG is
 * asked, then it is recorded or refunded (recordPgApproval). The session keeps its first rsp; the
 * answer is the payment as it stands now.
 */
async function lateWindowResult(deps: Deps, c: Checkout, channel: ResolvedChannel, impUid: string, posted: Record<string, string>): Promise<Rsp> {
  const first = JSON.parse(c.session.result!) as Rsp;
  let result: WindowResult;
  try {
    result = channel.connector.window!.readWindowResult(channel.credentials, posted, { moid: impUid, amount: c.params.amount });
  } catch {
    return first;
  }
  // an authentication not approved yet (the first post could not be verified): approved now if the
  // attempt is still open; a closed attempt is not claimed, and nothing was charged by this post.
  // One the first post's approve charged, recorded paid since (its record had failed, decision
  // 0119, or its confirmation was missing), is answered as it stands: paid.
  if (result.outcome === 'authenticated') {
    // its own progress: the first post's approve may have charged the order, so a database failure
    // here is "being confirmed" even before this post's claim (completeCheckout's progress stays so)
    const approved = await approveAuthenticated(deps, c, channel, impUid, result.pgTid, { pgMayHaveActed: true });
    if (approved) return approved;
    const now = await deps.store.db.selectFrom('payments').select('status').where('imp_uid', '=', impUid).executeTakeFirst();
    return now?.status === 'paid' ? rspOfPayment(deps, impUid) : first;
  }
  if (result.outcome !== 'approved' && result.outcome !== 'vbank_issued') return first;
  const p = await deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirst();
  if (!p) return first;
  // Posts beyond the checkout's few inquiries ask the PG nothing (decision 0059): an attempt still
  // open is reconciliation's, a failed one has its recheck (failWindowAttempt), a recorded one is done.
  if (!(await takeCheckoutInquiry(deps, c.session.id))) {
    deps.logger.warn({ imp_uid: impUid }, 'late window result not checked with the PG: this checkout has used its inquiries');
    return first;
  }
  if (result.outcome === 'vbank_issued') {
    // an account issued for a closed checkout: close it at the PG, nobody will pay into it. Only the
    // account the PG reports for this attempt: the posted tid is not signed, and a rewritten one must
    // not make Pier close another payment's account.
    if (p.status === 'failed' && channel.connector.revokeVbank) {
      try {
        const found = await channel.connector.inquire(channel.credentials, { moid: impUid, aroundMs: p.started_at * 1000 });
        if (found.found && found.state === 'awaiting_deposit' && found.pgTid === result.pgTid && found.amount === c.params.amount) {
          await closeVbankOfFailedAttempt(deps, channel, impUid, found);
        }
      } catch (err) {
        deps.logger.error({ imp_uid: impUid, err: (err as Error).message }, 'could not close a virtual account issued after the checkout closed');
      }
    }
    return first;
  }
  let found;
  try {
    found = await channel.connector.inquire(channel.credentials, { moid: impUid, pgTid: result.pgTid, aroundMs: p.started_at * 1000 });
  } catch (err) {
    // the PG keeps it; the confirm row makes a worker settle it once the PG answers
    deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'late window approval could not be confirmed with the PG yet');
    await enqueueWindowConfirm(deps, impUid, channel.row.id, result.pgTid);
    return first;
  }
  if (!found.found || !isApprovalAtPg(found, c.params.pay_method) || found.amount !== c.params.amount) return first;
  await recordPgApproval(deps, attemptOf(c, channel, impUid), found, { bank: { bankCode: result.bankCode, bankName: result.bankName } });
  return rspOfPayment(deps, impUid);
}

/**
 * A billing key issued in the window (request_pay with customer_uid): store it like
 * POST /subscribe/customers does. Amount 0 records the issuance as a paid 0 KRW Payment with
 * customer_uid_usage `issue`; a positive amount is then charged with the new key (first payment).
 */
async function recordWindowBillingKey(
  deps: Deps,
  c: Checkout,
  channel: ResolvedChannel,
  impUid: string,
  result: Extract<WindowResult, { outcome: 'billing_key_issued' }>,
): Promise<Rsp> {
  const { params, session } = c;
  const { db } = deps.store;
  const customerUid = params.customer_uid!;
  // The F100 post is not signed: a buyer can turn a cancel into it with any cardToken. Store a key
  // (and so replace a customer's card) only as the PG reports it: issued in this very window.
  let confirmed;
  try {
    if (!channel.connector.inquireBillingKey) throw new Error(`${channel.row.provider} cannot confirm billing keys`);
    confirmed = await channel.connector.inquireBillingKey(channel.credentials, result.billingKey);
  } catch (err) {
    deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'could not confirm a window billing key with the PG');
    await markInDoubt(deps, impUid);
    return failRsp(params.merchant_uid, RSP_ERRORS.unverified, '빌링키 발급 결과를 확인하지 못했습니다. 다시 시도해 주세요. (the PG did not confirm the billing key)', impUid);
  }
  if (!confirmed.found || confirmed.moid !== impUid) {
    deps.logger.warn({ imp_uid: impUid, found: confirmed.found }, 'window billing-key result refused: the PG did not issue that key in this window');
    await failWindowAttempt(deps, impUid, `[${RSP_ERRORS.unverified}]PG사에서 확인되지 않은 빌링키입니다. (the PG did not issue this billing key for this payment)`);
    return rspOfPayment(deps, impUid);
  }
  result = { ...result, cardCode: confirmed.cardCode, cardName: confirmed.cardName, cardNumberMasked: confirmed.cardNumberMasked, cardType: confirmed.cardType };
  await storeBillingKey(deps, session.merchant_id, customerUid, channel, result, {
    customer_name: params.buyer_name,
    customer_email: params.buyer_email,
    customer_tel: params.buyer_tel,
    customer_addr: params.buyer_addr,
    customer_postcode: params.buyer_postcode,
  });
  const now = unixSeconds(deps.clock);
  const card = { card_code: result.cardCode, card_name: result.cardName, card_number: result.cardNumberMasked, card_type: result.cardType };

  // the issuance (amount 0) or the first charge takes the merchant_uid (decision 0058); another payment
  // holding it fails the attempt, the key staying stored: its issuance was genuine
  const taken = async (error: { code: string; message: string }) => {
    await failWindowAttempt(deps, impUid, `[${error.code}]${error.message}`, null, { windowOver: true });
    return rspOfPayment(deps, impUid);
  };
  if (params.amount === 0) {
    const issued = await withMerchantUid(deps, session.merchant_id, params.merchant_uid, () =>
      db.transaction().execute(async (trx) => {
        const res = await trx
          .updateTable('payments')
          .set({ ...card, status: 'paid', pg_state: 'done', merchant_uid_lock: params.merchant_uid, paid_at: now, updated_at: now })
          .where('imp_uid', '=', impUid)
          .where('pg_state', 'in', ['window', 'calling', 'in_doubt'])
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 1) {
          await recordPaymentEvent(trx, deps, { merchantId: session.merchant_id, impUid, merchantUid: params.merchant_uid, status: 'paid', noticeUrl: params.notice_url, cause: 'window' });
        }
      }),
      { yieldVbank: false },
    );
    return issued.ok ? rspOfPayment(deps, impUid) : taken(issued.error);
  }

  // The first payment is Pier's own call: a prepared amount changed while the window was open is
  // refused before it (the key stays stored: its issuance was genuine).
  const changed = await preparedAmountViolation(deps, impUid, params.amount);
  if (changed) {
    await failWindowAttempt(deps, impUid, `[${RSP_ERRORS.prepareMismatch}]${prepareMismatchMessage(changed.prepared, params.amount)}`, null, { windowOver: true });
    return rspOfPayment(deps, impUid);
  }
  // First payment with the new key: the attempt row exists; move it from `window` to `calling`.
  // Reconciliation's grace runs from now, not from when the window opened (minutes ago, maybe): a
  // `calling` row past its grace is one whose process died, and is asked about (and given up when
  // the PG has no record of it) while this charge may still be on its way.
  const moved = await withMerchantUid(deps, session.merchant_id, params.merchant_uid, () =>
    db
      .updateTable('payments')
      .set({ ...card, pg_state: 'calling', merchant_uid_lock: params.merchant_uid, next_check_at: dbNow(deps.store), updated_at: now })
      .where('imp_uid', '=', impUid)
      .where('pg_state', '=', 'window')
      .executeTakeFirst(),
    // the charge may still be declined: an unpaid account is not closed for it
    { yieldVbank: false },
  );
  if (!moved.ok) return taken(moved.error);
  if (Number(moved.value.numUpdatedRows) !== 1) return rspOfPayment(deps, impUid);
  try {
    const charged = await channel.connector.chargeBillingKey(channel.credentials, result.billingKey, {
      moid: impUid,
      amount: params.amount,
      goodsName: params.name ?? params.merchant_uid,
      cardQuota: 0,
      buyer: { name: params.buyer_name, email: params.buyer_email, tel: params.buyer_tel },
      mallUserId: customerUid,
      taxFree: params.tax_free,
    });
    if (charged.outcome === 'approved') {
      await db.transaction().execute(async (trx) => {
        const res = await trx
          .updateTable('payments')
          .set({
            status: 'paid',
            pg_state: 'done',
            pg_tid: charged.pgTid,
            apply_num: charged.applyNum,
            card_code: charged.cardCode ?? result.cardCode,
            card_name: charged.cardName ?? result.cardName,
            card_number: charged.cardNumberMasked ?? result.cardNumberMasked,
            card_type: charged.cardType ?? result.cardType,
            card_quota: charged.cardQuota,
            receipt_url: charged.receiptUrl,
            paid_at: charged.paidAt || now,
            updated_at: unixSeconds(deps.clock),
          })
          .where('imp_uid', '=', impUid)
          .where('pg_state', 'in', ['calling', 'in_doubt'])
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 1) {
          await recordPaymentEvent(trx, deps, { merchantId: session.merchant_id, impUid, merchantUid: params.merchant_uid, status: 'paid', noticeUrl: params.notice_url, cause: 'window' });
        }
      });
    } else {
      await failWindowAttempt(deps, impUid, `[${charged.code}]${charged.message}`, charged.pgTid);
    }
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    if (!err.inDoubt) {
      await failWindowAttempt(deps, impUid, `[PG_UNREACHABLE] PG사와 통신하지 못했습니다: ${err.message}`);
    } else {
      // its grace counted from the lost answer, as an API charge's (decision 0009); from the move to
      // `calling` it let reconciliation give the charge up while the PG may still be making it
      await markCallInDoubt(deps, impUid);
      await settleAttempt(deps, impUid, { giveUpIfUnknown: false }).catch((e) => deps.logger.warn({ imp_uid: impUid, err: (e as Error).message }, 'inquiry after timeout failed'));
    }
  }
  return rspOfPayment(deps, impUid);
}

async function markInDoubt(deps: Deps, impUid: string) {
  await deps.store.db
    .updateTable('payments')
    .set({ pg_state: 'in_doubt', updated_at: unixSeconds(deps.clock) })
    .where('imp_uid', '=', impUid)
    .where('pg_state', '=', 'window')
    .execute();
}

/**
 * The buyer left: closed the overlay or popup, pressed cancel in Pier's checkout, or the PG sent the
 * browser to the cancel URL. Before the PG window opened nothing is recorded. After, the PG is asked
 * first (the buyer may have paid a moment before closing); an attempt the PG does not know is failed
 * with the cancel reason and its merchant_uid freed.
 */
export async function cancelCheckout(deps: Deps, sessionId: string): Promise<{ checkout: Checkout; rsp: Rsp }> {
  const c = await loadCheckout(deps, sessionId);
  if (!c) throw new PierError('not_found', '결제 세션을 찾을 수 없습니다. (unknown checkout session)');
  const { session, params } = c;
  const { db } = deps.store;
  if (session.state === 'done') return { checkout: c, rsp: JSON.parse(session.result!) };
  const cancelRsp = (impUid: string | null) => failRsp(params.merchant_uid, RSP_ERRORS.cancelled, CANCELLED_RSP_MESSAGE, impUid);
  if (session.state === 'open' || !session.imp_uid) {
    return { checkout: c, rsp: await finishSession(db, deps, sessionId, cancelRsp(null)) };
  }
  const impUid = session.imp_uid;
  const p = await db.selectFrom('payments').select(['pg_state', 'started_at']).where('imp_uid', '=', impUid).executeTakeFirst();
  if (p && p.pg_state === 'window') {
    const channel = await channelById(deps, session.channel_id);
    let known: boolean | null = null;
    // closes sent at once on one checkout each asked the PG; past its few inquiries, reconciliation asks (decision 0059)
    if (!(await takeCheckoutInquiry(deps, sessionId))) {
      deps.logger.warn({ imp_uid: impUid }, 'window close not checked with the PG: this checkout has used its inquiries; left for reconciliation');
    } else {
      try {
        const found = channel ? await channel.connector.inquire(channel.credentials, { moid: impUid, aroundMs: Number(p.started_at) * 1000 }) : { found: false as const };
        known = found.found && found.state !== 'failed';
      } catch (err) {
        deps.logger.warn({ imp_uid: impUid, err: (err as Error).message }, 'inquiry on window close failed; left for reconciliation');
      }
    }
    if (known === false) {
      // failWindowAttempt also writes the recheck: the PG window may still be submitted, and its
      // result may never reach Pier. Not an attempt the PG's result claimed for Pier's approve
      // meanwhile (NICE): its approve may be charging, and its answer settles it.
      await failWindowAttempt(deps, impUid, `[${RSP_ERRORS.cancelled}]${CANCELLED_RSP_MESSAGE}`, null, { unlessClaimed: true });
    } else {
      await db.updateTable('payments').set({ pg_state: 'in_doubt', updated_at: unixSeconds(deps.clock) }).where('imp_uid', '=', impUid).where('pg_state', '=', 'window').execute();
      if (known) await settleAttempt(deps, impUid, { giveUpIfUnknown: false }).catch(() => undefined);
    }
  }
  // Once the PG window was open the payment exists, so the rsp is the whole object (status failed),
  // as V1 answers a cancel inside the PG window; only a close before it has the 6 short fields.
  const rsp = await rspOfPayment(deps, impUid);
  return { checkout: c, rsp: await finishSession(db, deps, sessionId, rsp) };
}

/** The stored rsp of a finished session, or null while it is open. */
export async function checkoutResult(deps: Deps, sessionId: string): Promise<Rsp | null> {
  const c = await loadCheckout(deps, sessionId);
  if (!c || c.session.state !== 'done') return null;
  return JSON.parse(c.session.result!) as Rsp;
}

/**
 * Attempts whose buyer went to the PG window and never came back (no result, no close) are handed
 * to reconciliation once the session's lifetime is over: `window` → `in_doubt`, then
 * reconcileInDoubt asks the PG and records what it says. They join its queue now, behind what went
 * in doubt before: with the time they were started, which the attempt's row was written with, a
 * flood of windows opened and left (anyone can open them) came 30 minutes ahead of the charges in
 * doubt meanwhile, and a pass that could not ask about everything never reached those (decision 0059).
 * Across merchants a pass takes turns besides (decision 0065). Handed over only now, they are
 * asked once their PG window can give no result any more, so that one answer settles them: no
 * recheck follows a PG that has no record of them (decision 0069).
 */
export async function releaseAbandonedWindows(deps: Deps, opts: { olderThanSeconds?: number } = {}): Promise<number> {
  const cutoff = unixSeconds(deps.clock) - (opts.olderThanSeconds ?? SESSION_TTL_SECONDS);
  const res = await deps.store.db
    .updateTable('payments')
    .set({ pg_state: 'in_doubt', next_check_at: dbNow(deps.store) })
    // a literal: payments_in_window is partial on it (migration 028), and a bound state takes no
    // partial index in a PostgreSQL generic plan
    .where(sql<boolean>`pg_state = 'window'`)
    .where('updated_at', '<=', cutoff)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** The redirect target of a redirect-mode checkout: m_redirect_url with V1's query string (spec §14.4). */
export function redirectUrl(mRedirectUrl: string, rsp: Rsp): string {
  const u = new URL(mRedirectUrl);
  u.searchParams.set('imp_uid', rsp.imp_uid ?? '');
  u.searchParams.set('merchant_uid', rsp.merchant_uid);
  u.searchParams.set('imp_success', rsp.success ? 'true' : 'false');
  if (!rsp.success) {
    if (rsp.error_code) u.searchParams.set('error_code', String(rsp.error_code));
    if (rsp.error_msg) u.searchParams.set('error_msg', String(rsp.error_msg));
  }
  return u.toString();
}

