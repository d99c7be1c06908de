/**
 * The characters a merchant's own identifiers, `merchant_uid` and `customer_uid`, may hold, on every
 * path that takes one: REST bodies, path segments and query strings, the payment window, the console
 * (docs/decisions/0054-merchant-id-characters.md).
 *
 * Refused: control characters (C0, DEL, C1), which no order number means and which break the URLs
 * and logs the id travels in; and a UTF-16 surrogate without its pair, which has no UTF-8 form:
 * PostgreSQL would store U+FFFD instead, so the stored id would differ from the one sent (lookups
 * miss, or match another id) and SQLite would keep it as sent. A customer_uid is also a REST path
 * segment (`/subscribe/customers/{customer_uid}`), so it holds no `/`, `?` or `#`.
 *
 * Written as JSON-schema patterns, which Fastify's Ajv compiles with the `u` flag: a surrogate pair
 * is then one code point outside the refused range, and only an unpaired half falls in it.
 */
const REFUSED = '\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF';

/** emptiness is the schemas' business (minLength), not the characters' */
export const MERCHANT_UID_PATTERN = `^[^${REFUSED}]*$`;
export const CUSTOMER_UID_PATTERN = `^[^/?#${REFUSED}]*$`;

const merchantUidForm = new RegExp(MERCHANT_UID_PATTERN, 'u');
const customerUidForm = new RegExp(CUSTOMER_UID_PATTERN, 'u');

export const isMerchantUidForm = (v: string): boolean => merchantUidForm.test(v);
export const isCustomerUidForm = (v: string): boolean => customerUidForm.test(v);

/**
 * Their lengths, in bytes of UTF-8: V1 documents `merchant_uid` as "Max 40 bytes" and writes both
 * as `string(40)` and `string(80)` in the same tables (docs/decisions/0062-merchant-id-lengths.md).
 * Counted the same way on every path, so an id one path takes is never refused by another; 40 bytes
 * is also at most 40 characters (the `varchar(40)` columns) and within NICE's 64-byte orderId.
 */
export const MERCHANT_UID_MAX_BYTES = 40;
export const CUSTOMER_UID_MAX_BYTES = 80;

export const utf8Bytes = (v: string): number => Buffer.byteLength(v, 'utf8');
