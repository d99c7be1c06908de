import type { Generated } from 'kysely';

/**
 * Row types. Times are UNIX seconds (V1's unit) stored as BIGINT; money is KRW in BIGINT;
 * booleans are 0/1 integers so both databases store them alike.
 */
export interface MerchantsTable {
  id: string;
  merchant_code: string;
  name: string;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  merchant_id: string;
  imp_key: string;
  /** scrypt hash of imp_secret; the secret itself is shown once and never stored */
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
}

export interface AccessTokensTable {
  id: string;
  merchant_id: string;
  api_key_id: string;
  /** sha256 of the token; the token is re-derived from the id with the token key when reissued */
  token_hash: string;
  issued_at: number;
  expires_at: number;
}

export interface PgChannelsTable {
  id: string;
  merchant_id: string;
  provider: string;
  mid: string;
  /** `window` (payment window) or `api` (key-in, billing) */
  kind: string;
  name: string;
  sandbox: number;
  is_default: number;
  merchant_key_sealed: string;
  cancel_password_sealed: string;
  created_at: number;
  /** this channel's own PG API base URL (migration 014); null = the connector's host for its mode */
  base_url: string | null;
}

export interface PaymentsTable {
  imp_uid: string;
  merchant_id: string;
  merchant_uid: string;
  /**
   * Equals merchant_uid while the attempt is in flight or has been paid, NULL otherwise.
   * A unique index on (merchant_id, merchant_uid_lock) makes "a merchant_uid is paid once" a
   * database guarantee: NULLs never collide, so failed attempts may be retried.
   */
  merchant_uid_lock: string | null;
  channel_id: string | null;
  pg_provider: string;
  pg_id: string;
  pay_method: string;
  channel: string;
  status: string;
  /** where the PG call stands: `calling`, `done`, `in_doubt` (timed out, settled by reconciliation) */
  pg_state: string;
  amount: number;
  cancel_amount: number;
  /** refunds sent to the PG whose outcome is not recorded yet; counted against the balance */
  cancel_pending_amount: number;
  tax_free: number;
  vat_amount: number | null;
  currency: string;
  name: string | null;
  buyer_name: string | null;
  buyer_email: string | null;
  buyer_tel: string | null;
  buyer_addr: string | null;
  buyer_postcode: string | null;
  custom_data: string | null;
  notice_url: string | null;
  user_agent: string | null;
  card_code: string | null;
  card_name: string | null;
  card_number: string | null;
  card_type: number | null;
  card_quota: number;
  apply_num: string | null;
  pg_tid: string | null;
  receipt_url: string | null;
  bank_code: string | null;
  bank_name: string | null;
  /** issued virtual account (pay_method vbank); migration 002 */
  vbank_code?: string | null;
  vbank_name?: string | null;
  vbank_num?: string | null;
  vbank_holder?: string | null;
  /** deposit deadline and issuance time, UNIX seconds, 0 when none */
  vbank_date?: number;
  vbank_issued_at?: number;
  customer_uid: string | null;
  customer_uid_usage: string | null;
  fail_reason: string | null;
  cancel_reason: string | null;
  sandbox: number;
  started_at: number;
  paid_at: number;
  failed_at: number;
  cancelled_at: number;
  updated_at: number;
  /**
   * Reconciliation (migration 007): the database-clock time (UNIX seconds) from which the
   * read-timeout grace is counted before this attempt is checked with the PG; a check that could
   * not settle it moves it back by a growing step. See docs/decisions/0009.
   */
  next_check_at?: number;
  /** checks that could not settle this attempt */
  check_count?: number;
  /**
   * An issued virtual account: when (Pier's clock, UNIX seconds) Pier next asks the PG whether it
   * was paid into, its notice lost; null when none is due (migration 029, decision 0086)
   */
  deposit_check_at?: number | null;
}

export interface PaymentCancelsTable {
  id: Generated<number>;
  imp_uid: string;
  cancellation_id: string;
  amount: number;
  tax_free: number;
  reason: string | null;
  /** `pending` (sent to the PG), `succeeded`, `failed`, `in_doubt` */
  state: string;
  pg_tid: string | null;
  fail_reason: string | null;
  refund_holder: string | null;
  refund_bank: string | null;
  refund_account: string | null;
  requested_at: number;
  cancelled_at: number;
  /** a `cancelled` webhook once it succeeds: 0 no, 1 API cancel with enable_webhook: true, 2 console cancel; migration 003 */
  notify_webhook?: Generated<number>;
  /** the PG's slip of this cancel, when it gave one; migration 010 */
  receipt_url?: string | null;
  /** the VAT the merchant stated for this refund (`vat_amount`), null when none; migration 020 */
  vat_amount?: number | null;
  /** as payments.next_check_at / check_count (migration 007) */
  next_check_at?: number;
  check_count?: number;
  /** the payment's merchant, for reconciliation's walk by merchant; null on refunds ended before migration 023 */
  merchant_id?: string | null;
}

export interface BillingKeysTable {
  id: string;
  merchant_id: string;
  customer_uid: string;
  channel_id: string;
  pg_provider: string;
  pg_id: string;
  sandbox: number;
  /** the PG's billing key, sealed by the vault (`v1.<keyId>.…`) */
  billing_key_sealed: string;
  vault_key_id: string;
  card_code: string | null;
  card_name: string | null;
  card_number: string | null;
  card_type: number | null;
  customer_id: string | null;
  customer_name: string | null;
  customer_tel: string | null;
  customer_email: string | null;
  customer_addr: string | null;
  customer_postcode: string | null;
  inserted: number;
  updated: number;
}

export interface PaymentPreparesTable {
  merchant_id: string;
  merchant_uid: string;
  amount: number;
  currency: string | null;
  created_at: number;
  updated_at: number;
}

/** One IMP.request_pay that passed validation, from the SDK to the rsp (migration 002). */
export interface CheckoutSessionsTable {
  id: string;
  merchant_id: string;
  channel_id: string;
  merchant_uid: string;
  imp_uid: string | null;
  pay_method: string;
  amount: number;
  /** `overlay` (iframe), `popup` or `redirect` (full page, m_redirect_url) */
  mode: string;
  /** the merchant page's origin: the only target of the result's postMessage */
  origin: string;
  /** the validated request_pay parameters, JSON */
  params: string;
  user_agent: string | null;
  /** `open`, `started` (buyer sent to the PG window), `done` */
  state: string;
  /** the rsp handed to the SDK, JSON, once done */
  result: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number;
}

/** A merchant console user (migration 004). */
export interface ConsoleUsersTable {
  id: string;
  merchant_id: string;
  email: string;
  password_hash: string;
  failed_count: number;
  locked_until: number;
  last_login_at: number;
  created_at: number;
}

/** A console sign-in (migration 004): keyed by the cookie's sha256. */
export interface ConsoleSessionsTable {
  id_hash: string;
  user_id: string;
  merchant_id: string;
  csrf_token: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

export interface Database {
  merchants: MerchantsTable;
  api_keys: ApiKeysTable;
  access_tokens: AccessTokensTable;
  pg_channels: PgChannelsTable;
  payments: PaymentsTable;
  payment_cancels: PaymentCancelsTable;
  billing_keys: BillingKeysTable;
  payment_prepares: PaymentPreparesTable;
  checkout_sessions: CheckoutSessionsTable;
  console_users: ConsoleUsersTable;
  console_sessions: ConsoleSessionsTable;
  payment_schedules: PaymentSchedulesTable;
  webhook_settings: WebhookSettingsTable;
  webhook_events: WebhookEventsTable;
  webhook_listeners: WebhookListenersTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  sandbox_settings: SandboxSettingsTable;
  window_confirms: WindowConfirmsTable;
  rate_limit_buckets: RateLimitBucketsTable;
}

/** A window result to acknowledge to the PG (tPay resultConfirm), migration 005. */
export interface WindowConfirmsTable {
  id: string;
  imp_uid: string;
  channel_id: string;
  pg_tid: string;
  /** `pending`, `done`, `failed` */
  state: string;
  attempts: number;
  due_at: number;
  lease_owner: string | null;
  lease_until: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** A scheduled payment (POST /subscribe/payments/schedule), migration 003. */
export interface PaymentSchedulesTable {
  id: string;
  merchant_id: string;
  customer_uid: string;
  merchant_uid: string;
  customer_id: string | null;
  pg_provider: string;
  pg_id: string;
  /** `scheduled`, `running` (leased by a worker; V1 still says scheduled), `executed`, `revoked` */
  state: string;
  schedule_at: number;
  /** when a worker may take it next: schedule_at, or later after a technical failure */
  due_at: number;
  /** charge attempts made */
  attempts: number;
  lease_owner: string | null;
  lease_until: number;
  /** the current or final charge attempt */
  imp_uid: string | null;
  amount: number;
  tax_free: number;
  vat_amount: number | null;
  currency: string;
  name: string | null;
  buyer_name: string | null;
  buyer_email: string | null;
  buyer_tel: string | null;
  buyer_addr: string | null;
  buyer_postcode: string | null;
  custom_data: string | null;
  notice_url: string | null;
  card_quota: number;
  promotion_id: string | null;
  /** accepted V1 fields that Pier does not act on, JSON */
  options: string | null;
  fail_reason: string | null;
  created_at: number;
  updated_at: number;
  executed_at: number;
  revoked_at: number;
}

/** A merchant's webhook endpoint and signing secret. */
export interface WebhookSettingsTable {
  merchant_id: string;
  url: string | null;
  /** `json` or `form` */
  content_type: string;
  /** `whsec_…`, sealed by the vault */
  secret_sealed: string;
  created_at: number;
  updated_at: number;
}

/** The outbox: one payment event (V1 webhook body), written with the payment change. */
export interface WebhookEventsTable {
  /** `msg_…`: the Standard Webhooks `webhook-id` */
  id: string;
  merchant_id: string;
  imp_uid: string;
  merchant_uid: string;
  status: string;
  cancellation_id: string | null;
  cause: string;
  created_at: number;
  /** the HTTP request that caused the event, for following it in the logs; migration 011 */
  request_id?: string | null;
}

/** A `pier listen` session. */
export interface WebhookListenersTable {
  id: string;
  merchant_id: string;
  forward_to: string;
  created_at: number;
  /** wall-clock UNIX seconds */
  last_seen_at: number;
  closed_at: number;
}

/** One event to one target (a URL, or a `pier listen` session). */
export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  merchant_id: string;
  url: string;
  listener_id: string | null;
  content_type: string;
  /** `pending`, `sending`, `delivered`, `failed` (gave up) */
  state: string;
  attempts: number;
  max_attempts: number;
  /** wall-clock UNIX seconds */
  next_attempt_at: number;
  /** set only while `sending`: every move out of it clears the lease (recordAttempts fences on this alone) */
  lease_owner: string | null;
  lease_until: number;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number;
  /** the event's request_id, so the worker logs the delivery under it; migration 011 */
  request_id?: string | null;
}

/** One HTTP attempt of a delivery. */
export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: string;
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
}

/** Sandbox settings shared by every process (one row, id 1). */
export interface SandboxSettingsTable {
  id: number;
  clock_offset_ms: number;
  auto_cancel: number;
  /** KST date (YYYYMMDD) of the last day whose auto-cancel ended with nothing left to cancel */
  auto_cancel_last_day: string | null;
  /** while a process runs the day's auto-cancel, when its hold runs out (database clock; 0 = none; migration 030) */
  auto_cancel_until: number;
  updated_at: number;
}

/** Attempts counted in one fixed window, per bucket (migration 008; src/core/merchants/rate-limit.ts). */
export interface RateLimitBucketsTable {
  bucket: string;
  window_start: number;
  hits: number;
}
