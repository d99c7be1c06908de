/**
 * Pier's browser SDK: `window.IMP` with init / request_pay, as i'mport's V1 SDK (spec/api-v1.md §14).
 * Bundled by esbuild (src/api/checkout/sdk-bundle.ts) and served at /v1/iamport.js and under the
 * legacy name /js/iamport.payment-1.2.0.js.
 *
 * request_pay asks Pier to validate the request (POST /checkout/sessions), then opens Pier's hosted
 * checkout in an overlay iframe (PC), a popup (`popup: true`) or the whole page (mobile with
 * m_redirect_url). The checkout is the `checkout_url` Pier answers (its public URL), which need not
 * share the origin the SDK was loaded from (a CDN, www/apex, http/https, 127.0.0.1/localhost). The
 * checkout reports the rsp by postMessage; only messages from that checkout's exact origin and from
 * the window this SDK opened are read, and the callback runs exactly once. A close reports the
 * server's outcome, asked again when its answer is lost, and never "cancelled" unheard (decision 0120).
 */
import type { PierIMP, PierRequestPayCallback, PierRequestPayParams, PierRequestPayResponse } from './types.js';

const VERSION = '1.2.0-pier';
const NO_INIT = '판매자 코드가 설정되지 않았습니다. IMP.init()함수를 먼저 호출하세요.';

declare global {
  interface Window {
    __PIER_SDK_ORIGIN__?: string;
  }
}

const script = document.currentScript as HTMLScriptElement | null;
/** where the SDK calls Pier's session endpoints: the origin it was loaded from */
const pierOrigin = window.__PIER_SDK_ORIGIN__ ?? (script && script.src ? new URL(script.src, location.href).origin : location.origin);

let userCode: string | null = null;
/**
 * The request_pay under way. A later request_pay supersedes it (decision 0117): what it put on the
 * page goes at once, its session is closed on the server, and its callback gets that close's rsp.
 */
let active: { close(): void; supersede(): void } | null = null;
/** each popup gets its own name, so a new request_pay never reuses (or loses) a popup closed a moment ago */
let popups = 0;

const isMobile = () => /Mobi|Android|iPhone|iPad|iPod|Windows Phone|SamsungBrowser/i.test(navigator.userAgent);

function failure(merchantUid: string, code: string, msg: string, impUid: string | null = null): PierRequestPayResponse {
  return { success: false, imp_success: false, imp_uid: impUid, merchant_uid: merchantUid, error_code: code, error_msg: msg };
}

function redirectTo(url: string, rsp: PierRequestPayResponse) {
  const u = new URL(url, location.href);
  u.searchParams.set('imp_uid', rsp.imp_uid ?? '');
  u.searchParams.set('merchant_uid', rsp.merchant_uid);
  u.searchParams.set('imp_success', rsp.success ? 'true' : 'false');
  if (!rsp.success) {
    if (rsp.error_code) u.searchParams.set('error_code', rsp.error_code);
    if (rsp.error_msg) u.searchParams.set('error_msg', rsp.error_msg);
  }
  location.href = u.toString();
}

async function postJson(path: string, body: unknown): Promise<any> {
  const res = await fetch(pierOrigin + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'omit',
  });
  return res.json();
}

/**
 * The pauses between the tries of a close whose answer did not arrive (a dropped connection, a
 * proxy's 502, Pier restarting): five tries over about 7.5 s, then the outcome is reported as
 * unknown, never as a cancel (decision 0120).
 */
const CLOSE_RETRY_PAUSES_MS = [500, 1000, 2000, 4000];
/** Pier's code for "the window closed and its result could not be confirmed" (V1's SDK has none; decision 0120). */
const UNCONFIRMED = 'F1013';
const unconfirmedMessage = (merchantUid: string) =>
  `결제 결과를 확인하지 못했습니다. 결제가 완료되었을 수 있으니 다시 결제하기 전에 가맹점 서버에서 주문번호(merchant_uid: ${merchantUid})로 결제 상태를 확인해 주세요. ` +
  '(the payment result could not be confirmed; the buyer may have paid: verify this merchant_uid on the server before taking another payment)';

/**
 * Closes a session on the server and answers its rsp: the server's record, which asks the PG first
 * (a buyer who paid just before closing gets the paid rsp). A close is safe to send again (a closed
 * session answers its stored rsp), so one whose answer did not arrive, or was not Pier's JSON, is
 * sent again after a pause; null once every try failed, or once `wanted` says the result came
 * another way meanwhile (the checkout's own message).
 */
async function closeOnServer(sessionId: string, wanted: () => boolean): Promise<PierRequestPayResponse | null> {
  for (let tried = 0; ; tried++) {
    try {
      const res = await fetch(`${pierOrigin}/checkout/sessions/${encodeURIComponent(sessionId)}/close`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        credentials: 'omit',
      });
      if (res.ok) {
        const body = await res.json();
        if (body && body.rsp && typeof body.rsp === 'object' && typeof body.rsp.success === 'boolean') return body.rsp as PierRequestPayResponse;
      }
    } catch {
      // no answer, or not JSON: asked again below
    }
    if (tried >= CLOSE_RETRY_PAUSES_MS.length || !wanted()) return null;
    await new Promise((resolve) => setTimeout(resolve, CLOSE_RETRY_PAUSES_MS[tried]));
    if (!wanted()) return null;
  }
}

/** The checkout page Pier answered, or null if it is not an absolute http(s) URL. */
function checkoutUrlOf(res: { checkout_url?: unknown }): URL | null {
  if (typeof res.checkout_url !== 'string') return null;
  try {
    const u = new URL(res.checkout_url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

function css(el: HTMLElement, style: Partial<CSSStyleDeclaration>) {
  Object.assign(el.style, style);
}

function request_pay(params: PierRequestPayParams, callback?: PierRequestPayCallback): void {
  if (!userCode) {
    alert(NO_INIT);
    return;
  }
  if (active) active.supersede();
  const p: PierRequestPayParams = { ...params };
  if (!p.merchant_uid) p.merchant_uid = `nobody_${Date.now()}`;
  if (!p.pay_method) p.pay_method = 'card';
  const merchantUid = p.merchant_uid;
  const mode: 'overlay' | 'popup' | 'redirect' = p.m_redirect_url && (isMobile() || p.popup === false) ? 'redirect' : p.popup === true && !isMobile() ? 'popup' : 'overlay';

  let done = false;
  // what this call put on the page (popup, overlay, listeners), undone once, newest first
  const undo: Array<() => void> = [];
  const cleanup = () => {
    while (undo.length > 0) undo.pop()!();
  };
  const handle = {
    close: () => closeSession(),
    supersede: () => {
      cleanup();
      closeSession();
    },
  };
  const finish = (rsp: PierRequestPayResponse) => {
    if (done) return;
    done = true;
    cleanup();
    if (active === handle) active = null;
    if (mode === 'redirect') {
      redirectTo(p.m_redirect_url!, rsp);
      return;
    }
    if (callback) {
      try {
        callback(rsp);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  };

  // A popup must open within the click that called request_pay, or browsers block it.
  let popup: Window | null = null;
  if (mode === 'popup') {
    popup = window.open('about:blank', `pier_checkout_${++popups}`, 'width=720,height=720,resizable=yes,scrollbars=yes');
    if (!popup) {
      finish(failure(merchantUid, 'F1000', '팝업이 차단되었습니다. 팝업 차단을 해제한 후 다시 시도해 주세요. (the popup was blocked)'));
      return;
    }
    const opened = popup;
    undo.push(() => {
      if (!opened.closed) opened.close();
    });
  }

  let sessionId: string | null = null;
  let closing = false;
  const closeSession = () => {
    if (done || closing) return;
    closing = true;
    // before a session exists nothing can have been paid: V1's cancel
    if (!sessionId) return finish(failure(merchantUid, 'F0005', '사용자가 결제를 취소하였습니다.'));
    // after, only the server knows: its rsp, or "unknown" when it could not be asked (decision 0120)
    void closeOnServer(sessionId, () => !done).then((rsp) => finish(rsp ?? failure(merchantUid, UNCONFIRMED, unconfirmedMessage(merchantUid))));
  };
  active = handle;

  postJson('/checkout/sessions', { imp_code: userCode, params: p, mode, origin: location.origin }).then(
    (res) => {
      if (done) {
        // superseded (or closed) while its session was being made: that session never opens, and is
        // closed so that nothing stays open in its name
        if (res && res.ok === true && typeof res.session_id === 'string') {
          postJson(`/checkout/sessions/${encodeURIComponent(res.session_id)}/close`, {}).catch(() => undefined);
        }
        return;
      }
      const checkoutUrl = res && res.ok === true ? checkoutUrlOf(res) : null;
      if (!checkoutUrl) {
        // a refusal before any window opened: Pier's rsp, or a V1 envelope (e.g. a body too large)
        const message = res && typeof res.message === 'string' ? res.message : '결제 요청이 올바르지 않습니다.';
        finish(res && res.rsp ? res.rsp : failure(merchantUid, 'F1000', message));
        return;
      }
      sessionId = res.session_id as string;
      const url = checkoutUrl.href;
      // the checkout page posts the result from its own origin, which may differ from pierOrigin
      const checkoutOrigin = checkoutUrl.origin;
      if (mode === 'redirect') {
        done = true;
        location.href = url;
        return;
      }
      let source: Window | null = null;
      const onMessage = (e: MessageEvent) => {
        if (e.origin !== checkoutOrigin || !source || e.source !== source) return;
        const d = e.data as { from?: string; session?: string; action?: string; rsp?: PierRequestPayResponse };
        if (!d || d.from !== 'pier-checkout' || d.session !== sessionId) return;
        if (d.action === 'done' && d.rsp) finish(d.rsp);
      };
      window.addEventListener('message', onMessage);
      undo.push(() => window.removeEventListener('message', onMessage));

      if (mode === 'popup' && popup) {
        popup.location.href = url;
        source = popup;
        const watch = setInterval(() => {
          if (popup!.closed) closeSession();
        }, 400);
        undo.push(() => clearInterval(watch));
        return;
      }

      const previousFocus = document.activeElement as HTMLElement | null;
      const previousOverflow = document.documentElement.style.overflow;
      const overlay = document.createElement('div');
      overlay.className = 'pier-imp-overlay';
      css(overlay, {
        position: 'fixed', inset: '0', zIndex: '2147483000', background: 'rgba(17,24,39,.55)',
        display: 'flex', alignItems: 'center', justifyContent: 'center',
      });
      const box = document.createElement('div');
      box.setAttribute('role', 'dialog');
      box.setAttribute('aria-modal', 'true');
      box.setAttribute('aria-label', p.language === 'en' ? 'Payment window' : '결제창');
      const small = window.innerWidth < 600;
      css(box, {
        position: 'relative', background: '#fff', width: small ? '100%' : 'min(480px, 100%)', height: small ? '100%' : 'min(720px, 100%)',
        borderRadius: small ? '0' : '12px', overflow: 'hidden', boxShadow: '0 20px 50px rgba(0,0,0,.3)',
      });
      const frame = document.createElement('iframe');
      frame.src = url;
      frame.name = 'pier_checkout';
      frame.title = p.language === 'en' ? 'Payment window' : '결제창';
      frame.setAttribute('allow', 'payment');
      css(frame, { border: '0', width: '100%', height: '100%', display: 'block' });
      const close = document.createElement('button');
      close.type = 'button';
      close.className = 'pier-imp-close';
      close.setAttribute('aria-label', p.language === 'en' ? 'Close the payment window' : '결제창 닫기');
      close.textContent = '×';
      css(close, {
        position: 'absolute', top: '6px', right: '6px', width: '36px', height: '36px', border: '0', borderRadius: '18px',
        background: 'rgba(255,255,255,.9)', color: '#111', font: '24px/36px sans-serif', cursor: 'pointer', zIndex: '1',
      });
      close.addEventListener('click', closeSession);
      const onKey = (e: KeyboardEvent) => {
        if (e.key === 'Escape') closeSession();
      };
      document.addEventListener('keydown', onKey);
      box.appendChild(frame);
      box.appendChild(close);
      overlay.appendChild(box);
      document.body.appendChild(overlay);
      document.documentElement.style.overflow = 'hidden';
      // keep keyboard and screen-reader focus inside the dialog while it is open
      const madeInert: Element[] = [];
      for (const el of Array.from(document.body.children)) {
        if (el !== overlay && !el.hasAttribute('inert')) {
          el.setAttribute('inert', '');
          madeInert.push(el);
        }
      }
      source = frame.contentWindow;
      frame.addEventListener('load', () => frame.focus(), { once: true });
      undo.push(() => {
        document.removeEventListener('keydown', onKey);
        overlay.remove();
        for (const el of madeInert) el.removeAttribute('inert');
        document.documentElement.style.overflow = previousOverflow;
        if (previousFocus && typeof previousFocus.focus === 'function') previousFocus.focus();
      });
    },
    () => {
      finish(failure(merchantUid, 'F1000', '결제 서버에 연결하지 못했습니다. 잠시 후 다시 시도해 주세요. (could not reach Pier)'));
    },
  );
}

const IMP: PierIMP = {
  init(code: string) {
    userCode = code;
  },
  agency(code: string) {
    userCode = code;
  },
  request_pay,
  close() {
    if (active) active.close();
  },
  version: VERSION,
};

(window as unknown as { IMP: PierIMP }).IMP = IMP;
