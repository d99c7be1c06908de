/**
 * Webhooks NICE → merchant (spec §6): the payment object POSTed as JSON to the URL registered for the
 * clientId, answered `OK`; failures retried every minute up to 10 attempts in all. Time comes from the
 * injected clock: `retryDue()` sends what is due at `clock.now()` (tests and `POST /__control/webhooks/retry`),
 * and a standalone simulator may call it on an interval.
 */
import { request } from 'undici';
import type { Clock } from '../../lib/clock.js';
import type { NicepayLedger, SimDelivery, SimPayment } from './ledger.js';
import { paymentObject } from './payment-object.js';

export const WEBHOOK_MAX_ATTEMPTS = 10;
export const WEBHOOK_RETRY_INTERVAL_MS = 60_000;
/** NICE waits 5 s to connect and 15 s for the answer (spec §6.5). */
const CONNECT_TIMEOUT_MS = 5_000;
const ANSWER_TIMEOUT_MS = 15_000;

export interface WebhookSender {
  /** Queues the event for this payment (if the clientId registered a URL) and makes its first attempt. */
  notify(p: SimPayment, secretKey: string, base: string): void;
  /** Sends every delivery due at the clock's now; resolves when those attempts are done. */
  retryDue(): Promise<{ attempted: number; delivered: number }>;
  /** Resolves when no attempt is in flight (tests, close). */
  idle(): Promise<void>;
}

export function webhookSender(ledger: NicepayLedger, clock: Clock, log: { warn(o: object, msg: string): void }): WebhookSender {
  const inFlight = new Set<Promise<boolean>>();

  async function attempt(d: SimDelivery): Promise<boolean> {
    let error: string | null = null;
    try {
      const res = await request(d.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json;charset=utf-8' },
        body: d.body,
        headersTimeout: ANSWER_TIMEOUT_MS,
        bodyTimeout: ANSWER_TIMEOUT_MS,
        signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS + ANSWER_TIMEOUT_MS),
      });
      const text = (await res.body.text()).trim();
      if (res.statusCode !== 200) error = `HTTP ${res.statusCode}`;
      else if (text.toUpperCase() !== 'OK') error = 'answer is not OK';
    } catch (e) {
      error = e instanceof Error ? e.name : 'request failed';
    }
    if (!ledger.db.open) return false;
    if (error === null) {
      ledger.finishDelivery(d.id, { deliveredAt: clock.now() });
      return true;
    }
    log.warn({ delivery: d.id, tid: d.tid, attempt: d.attempts, error }, 'nicepay simulator: webhook delivery failed');
    ledger.finishDelivery(d.id, d.attempts >= WEBHOOK_MAX_ATTEMPTS ? { gaveUpAt: clock.now(), error } : { error });
    return false;
  }

  function start(id: number): Promise<boolean> | null {
    const now = clock.now();
    const d = ledger.claimDelivery(id, now, now + WEBHOOK_RETRY_INTERVAL_MS);
    if (!d) return null;
    const p = attempt(d).finally(() => inFlight.delete(p));
    inFlight.add(p);
    return p;
  }

  return {
    notify(p, secretKey, base) {
      const url = ledger.webhookUrl(p.clientId);
      if (!url) return;
      const now = clock.now();
      const body = JSON.stringify(paymentObject(p, { secretKey, now, base }));
      const id = ledger.addDelivery({ clientId: p.clientId, url, tid: p.tid, status: p.status, body, now });
      start(id);
    },
    async retryDue() {
      const started = ledger
        .dueDeliveryIds(clock.now())
        .map(start)
        .filter((p): p is Promise<boolean> => p !== null);
      const results = await Promise.all(started);
      return { attempted: results.length, delivered: results.filter(Boolean).length };
    },
    async idle() {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
  };
}
