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

export interface Database {
  merchants: MerchantsTable;
  api_keys: ApiKeysTable;
  access_tokens: AccessTokensTable;
  pg_channels: PgChannelsTable;
  payments: PaymentsTable;
  payment_cancels: PaymentCancelsTable;
  billing_keys: BillingKeysTable;
  payment_prepares: PaymentPreparesTable;
}
