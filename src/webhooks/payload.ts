import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { timeOrderedId } from '../lib/ids.js';

/** How a merchant receives webhooks: V1 offers JSON (the default) and form encoding (spec §13). */
export type WebhookContentType = 'json' | 'form';
export const CONTENT_TYPES: Record<WebhookContentType, string> = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
};

/** The V1 webhook body: `{imp_uid, merchant_uid, status}`, plus `cancellation_id` on a refund. */
export interface WebhookBody {
  imp_uid: string;
  merchant_uid: string;
  status: string;
  cancellation_id?: string;
}

export function webhookBody(e: { imp_uid: string; merchant_uid: string; status: string; cancellation_id: string | null }): WebhookBody {
  const body: WebhookBody = { imp_uid: e.imp_uid, merchant_uid: e.merchant_uid, status: e.status };
  if (e.cancellation_id) body.cancellation_id = e.cancellation_id;
  return body;
}

/** The exact bytes sent (and signed), and their Content-Type header. */
export function encodeBody(body: WebhookBody, contentType: string): { payload: string; contentType: string } {
  if (contentType === 'form') {
    return { payload: new URLSearchParams(body as unknown as Record<string, string>).toString(), contentType: CONTENT_TYPES.form };
  }
  return { payload: JSON.stringify(body), contentType: CONTENT_TYPES.json };
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * A message id (`webhook-id`): `msg_` + 32 hex digits ordered by time, as Svix's ids are, so the
 * events table and its index grow at one end (see newId).
 */
export const newMessageId = (): string => `msg_${timeOrderedId()}`;

/**
 * The Standard Webhooks headers for one attempt (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`), made with the `standardwebhooks` library. `at` must be the real time:
 * receivers refuse timestamps more than five minutes off their own clock, so the sandbox clock is
 * never used here.
 */
export function signatureHeaders(secret: string, msgId: string, payload: string, at: Date): Record<string, string> {
  const signature = new Webhook(secret).sign(msgId, at, payload);
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}
