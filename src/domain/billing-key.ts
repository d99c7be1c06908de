import type { BillingKeysTable } from '../store/types.js';

/** V1 Customer (billing key) object, spec/api-v1.md §12.3: every key present. */
export function toV1Customer(b: BillingKeysTable) {
  return {
    customer_uid: b.customer_uid,
    pg_provider: b.pg_provider,
    pg_id: b.pg_id,
    sandbox: b.sandbox === 1,
    customer_id: b.customer_id,
    card_name: b.card_name,
    card_code: b.card_code,
    card_issuer_code: b.card_code,
    card_issuer_name: b.card_name,
    card_publisher_code: null,
    card_publisher_name: null,
    card_number: b.card_number,
    card_type: b.card_type,
    customer_name: b.customer_name,
    customer_tel: b.customer_tel,
    customer_email: b.customer_email,
    customer_addr: b.customer_addr,
    customer_postcode: b.customer_postcode,
    inserted: b.inserted,
    updated: b.updated,
  };
}
