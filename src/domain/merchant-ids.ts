/**
 * The characters a merchant's own identifiers, `merchant_uid` and `customer_uid`, may hold when a
 * request names a new record by one: a payment, a prepare, a billing key, a schedule, a window
 * request (docs/decisions/0054-merchant-id-characters.md). A lookup or an action on a record that
 * already exists takes any id an earlier Pier could have stored (`STORED_ID_PATTERN` below,
 * docs/decisions/0068-ids-created-and-looked-up.md).
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
 * An id a lookup or an action on an existing record takes: anything an earlier Pier could have
 * stored. Before decisions 0054 and 0062, REST took any characters but NUL (control characters, `/`
 * in a window's customer_uid) and up to 40 and 80 characters (code points, as JSON schema's
 * maxLength counts them and PostgreSQL's `varchar(40)` and `varchar(80)` columns hold them); the
 * window counted UTF-16 units, which is stricter. What can never match is still refused: an empty
 * id, a longer one, NUL (PostgreSQL has no text with it) and an unpaired surrogate (no store keeps
 * it as sent, and on PostgreSQL its U+FFFD stand-in would match another id).
 */
export const STORED_ID_PATTERN = '^[^\\u0000\\uD800-\\uDFFF]*$';
export const MERCHANT_UID_STORED_MAX_CHARS = 40;
export const CUSTOMER_UID_STORED_MAX_CHARS = 80;

/**
 * Their lengths, in bytes of UTF-8: V1 documents `merchant_uid` as "Max 40 bytes" and writes both
 * as `string(40)` and `string(80)` in the same tables (docs/decisions/0062-merchant-id-lengths.md).
 * Counted the same way on every path, so an id one path takes is never refused by another; 40 bytes
 * is also at most 40 characters (the `varchar(40)` columns) and within NICE's 64-byte orderId.
 */
export const MERCHANT_UID_MAX_BYTES = 40;
export const CUSTOMER_UID_MAX_BYTES = 80;

export const utf8Bytes = (v: string): number => Buffer.byteLength(v, 'utf8');

/**
 * What is wrong with a customer_uid that names a new billing key, in the words of a schema error
 * (`must be at most 80 bytes in UTF-8`), or null: for a body field that only sometimes creates
 * one (`POST /subscribe/payments/schedule` with card fields), which its schema cannot tell. The
 * schema has already taken it as a stored id (not empty, no unpaired surrogate).
 */
export function customerUidCreationProblem(v: string): string | null {
  if (utf8Bytes(v) > CUSTOMER_UID_MAX_BYTES) return `must be at most ${CUSTOMER_UID_MAX_BYTES} bytes in UTF-8`;
  if (!isCustomerUidForm(v)) return 'has the wrong format';
  return null;
}
