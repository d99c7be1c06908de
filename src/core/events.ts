import type { Kysely } from 'kysely';
import type { Clock } from '../lib/clock.js';
import type { Database } from '../store/types.js';

/** V1 webhook statuses (spec/api-v1.md §13). */
export type PaymentEventStatus = 'paid' | 'ready' | 'failed' | 'cancelled';

/** What happened to a payment, for webhook delivery. */
export interface PaymentEvent {
  merchantId: string;
  impUid: string;
  merchantUid: string;
  status: PaymentEventStatus;
  /** set on cancels */
  cancellationId?: string | null;
  /** the payment's own notice_url(s), space-separated; null = the merchant's webhook URL */
  noticeUrl: string | null;
  /** why: decides whether V1 sends a webhook at all */
  cause: 'charge' | 'window' | 'vbank_issued' | 'vbank_deposit' | 'schedule' | 'api_cancel' | 'console_cancel';
}

/**
 * Records a payment event for webhook delivery. Call it with the transaction that changes the
 * payment, so that the event exists if and only if the change does (an outbox).
 * Implemented by the webhooks outbox (issue #4).
 */
export async function recordPaymentEvent(db: Kysely<Database>, clock: Clock, event: PaymentEvent): Promise<void> {
  void db;
  void clock;
  void event;
}
