import type { Ajv, SchemaValidateFunction } from 'ajv';
import Type from 'typebox';
import {
  CUSTOMER_UID_MAX_BYTES,
  CUSTOMER_UID_PATTERN,
  CUSTOMER_UID_STORED_MAX_CHARS,
  MERCHANT_UID_MAX_BYTES,
  MERCHANT_UID_PATTERN,
  MERCHANT_UID_STORED_MAX_CHARS,
  STORED_ID_PATTERN,
  utf8Bytes,
} from '../domain/merchant-ids.js';

/**
 * Shared field schemas for the V1 routes. Amounts are integers (KRW): a JSON string, a negative
 * or a fractional value is rejected with a message naming the field. Lengths follow V1 (§1.6).
 */
export const Amount = Type.Integer({ minimum: 1, maximum: 100_000_000_000, description: 'amount in KRW (integer)' });
export const AmountOrZero = Type.Integer({ minimum: 0, maximum: 100_000_000_000 });
/**
 * An optional refund amount (`amount`, `checksum` of POST /payments/cancel) where JSON null or an
 * omitted field is the default, but an empty form value is refused, not read as null: omitted
 * means "everything" for `amount` and "no check" for `checksum`, and an empty field is far more
 * often a merchant's unset variable than a wish to refund it all (docs/decisions/0048). `enum`
 * rather than `type: 'null'` so that form-coercion.ts leaves '' as it is for validation to name.
 */
export const OptRefundAmount = Type.Optional(Type.Union([AmountOrZero, Type.Unsafe<null>({ enum: [null] })]));
/** JSON `null` only: as `enum`, not `type: 'null'`, so form-coercion.ts leaves an empty string as it is (see OptRefundAmount). */
export const NullOnly = Type.Unsafe<null>({ enum: [null] });
/**
 * `maxUtf8Bytes`: a string's length in bytes of UTF-8, the unit V1 gives for merchant_uid (JSON
 * schema's maxLength counts code points, which let 40 emoji, 160 bytes, through).
 */
export const MAX_UTF8_BYTES = 'maxUtf8Bytes';
/**
 * `x-integerId`: an id field (merchant_uid, customer_uid) that also takes a JSON integer, read as its
 * decimal digits (form-coercion.ts). Merchant code passes its own numeric keys (`customer_uid:
 * user.id`) and V1's clients send them on unchanged as JSON numbers (docs/decisions/0109). An
 * annotation for the validator; an `x-` extension, so the OpenAPI document may carry it as it is.
 */
export const INTEGER_ID = 'x-integerId';
/** The Ajv plugin that defines `maxUtf8Bytes` and `x-integerId` (given to Fastify's validator compiler in app.ts). */
export function pierSchemaKeywords(ajv: Ajv): Ajv {
  ajv.addKeyword({ keyword: INTEGER_ID, schemaType: 'boolean' });
  const validate: SchemaValidateFunction = (max: number, data: string) => {
    const ok = utf8Bytes(data) <= max;
    validate.errors = ok ? [] : [{ keyword: MAX_UTF8_BYTES, message: `must be at most ${max} bytes in UTF-8`, params: { limit: max } }];
    return ok;
  };
  // checked before `maxLength`, which the same schemas carry for the OpenAPI document: the bytes are the rule, and the one named
  return ajv.addKeyword({ keyword: MAX_UTF8_BYTES, type: 'string', schemaType: 'number', errors: true, validate, before: 'maxLength' });
}
/**
 * The OpenAPI document with `maxUtf8Bytes` as the extension `x-maxUtf8Bytes`: OpenAPI 3.0 allows no
 * keyword of its own in a schema but `x-` ones, and a generator or validator reading the document
 * would stop at it. A copy: the route schemas Fastify validates with keep the keyword.
 */
export function openApiWithUtf8Extension<T>(doc: T): T {
  return JSON.parse(JSON.stringify(doc), (_key, value: unknown) => {
    if (!value || typeof value !== 'object' || Array.isArray(value) || !(MAX_UTF8_BYTES in value)) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k === MAX_UTF8_BYTES ? `x-${MAX_UTF8_BYTES}` : k, v]));
  }) as T;
}
/**
 * merchant_uid and customer_uid where a request names a new record by them (a payment, a prepare, a
 * billing key, a schedule): no control character or unpaired surrogate (domain/merchant-ids.ts),
 * at most 40 and 80 bytes of UTF-8 (docs/decisions/0062-merchant-id-lengths.md). `maxLength` is
 * also given, for the OpenAPI document: 40 bytes are never more than 40 characters, so it is true,
 * and the bytes rule, which OpenAPI cannot state, is in the description.
 */
export const MerchantUid = Type.String({
  minLength: 1,
  [INTEGER_ID]: true,
  maxLength: MERCHANT_UID_MAX_BYTES,
  [MAX_UTF8_BYTES]: MERCHANT_UID_MAX_BYTES,
  pattern: MERCHANT_UID_PATTERN,
  description: `merchant order id, new: at most ${MERCHANT_UID_MAX_BYTES} bytes of UTF-8 (14 Hangul are 42 bytes), no control character`,
});
export const CustomerUid = Type.String({
  minLength: 1,
  [INTEGER_ID]: true,
  maxLength: CUSTOMER_UID_MAX_BYTES,
  [MAX_UTF8_BYTES]: CUSTOMER_UID_MAX_BYTES,
  pattern: CUSTOMER_UID_PATTERN,
  description: `billing key handle, new: at most ${CUSTOMER_UID_MAX_BYTES} bytes of UTF-8 (27 Hangul are 81 bytes), no control character, no \`/\`, \`?\` or \`#\``,
});
/**
 * The same ids where a request looks up or acts on a record that already exists (find, cancel,
 * billing-key and schedule lookups, unschedule, charging a stored billing key): any id an earlier
 * Pier could have stored, so records kept over the upgrade to decisions 0054 and 0062 are still
 * found by them (docs/decisions/0068-ids-created-and-looked-up.md).
 */
export const StoredMerchantUid = Type.String({
  minLength: 1,
  [INTEGER_ID]: true,
  maxLength: MERCHANT_UID_STORED_MAX_CHARS,
  pattern: STORED_ID_PATTERN,
  description: `merchant order id of an existing record: as it was stored (ids made before the ${MERCHANT_UID_MAX_BYTES}-byte rule, up to ${MERCHANT_UID_STORED_MAX_CHARS} characters, are found)`,
});
export const StoredCustomerUid = Type.String({
  minLength: 1,
  [INTEGER_ID]: true,
  maxLength: CUSTOMER_UID_STORED_MAX_CHARS,
  pattern: STORED_ID_PATTERN,
  description: `billing key handle of an existing key: as it was stored (ids made before the ${CUSTOMER_UID_MAX_BYTES}-byte rule, up to ${CUSTOMER_UID_STORED_MAX_CHARS} characters, are found)`,
});
/** the stored ids in a lookup list (`merchant_uid[]`, `customer_uid[]`), where an empty entry is the route's business */
export const StoredMerchantUidItem = Type.String({ [INTEGER_ID]: true, maxLength: MERCHANT_UID_STORED_MAX_CHARS, pattern: STORED_ID_PATTERN });
export const StoredCustomerUidItem = Type.String({ [INTEGER_ID]: true, maxLength: CUSTOMER_UID_STORED_MAX_CHARS, pattern: STORED_ID_PATTERN });
export const ImpUid = Type.String({ minLength: 1, maxLength: 32, description: 'Pier payment id, `imp_` + 12 digits' });
export const CardNumber = Type.String({ pattern: '^[0-9][0-9 -]{10,22}[0-9]$', description: 'card number, digits with optional dashes' });
export const Expiry = Type.String({ pattern: '^[0-9]{4}-?(0[1-9]|1[0-2])$', description: 'card expiry `YYYY-MM`' });
export const Birth = Type.String({ pattern: '^([0-9]{6}|[0-9]{10})$', description: 'YYMMDD birth date or 10-digit business number' });
export const Pwd2Digit = Type.String({ pattern: '^[0-9]{2}$', description: 'first two digits of the card password' });
export const Cvc = Type.String({ pattern: '^[0-9]{3,4}$' });
export const OptString = (max: number) => Type.Optional(Type.Union([Type.String({ maxLength: max }), Type.Null()]));
export const OptInt = (min = 0) => Type.Optional(Type.Union([Type.Integer({ minimum: min }), Type.Null()]));
export const Pg = Type.Optional(Type.Union([Type.String({ maxLength: 80 }), Type.Null()]));

export const BuyerFields = {
  buyer_name: OptString(100),
  buyer_email: OptString(100),
  buyer_tel: OptString(40),
  buyer_addr: OptString(200),
  buyer_postcode: OptString(16),
};

export const CustomerFields = {
  customer_id: OptString(80),
  customer_name: OptString(100),
  customer_tel: OptString(40),
  customer_email: OptString(100),
  customer_addr: OptString(200),
  customer_postcode: OptString(16),
};

/** V1 sends custom_data as a string; SDKs send objects. Objects are stored as JSON strings, as long as the string may be (request-helpers.ts customDataString). */
export const CustomData = Type.Optional(Type.Union([Type.String({ maxLength: 10_000 }), Type.Object({}), Type.Array(Type.Any()), Type.Null()]));

export const Paging = {
  // bounded so that (page − 1) × limit stays a valid SQL OFFSET on SQLite and PostgreSQL
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20 })),
};

export const PaymentStatusParam = Type.Union([Type.Literal('ready'), Type.Literal('paid'), Type.Literal('cancelled'), Type.Literal('failed')]);
export const SortingParam = Type.Optional(
  Type.Union([
    Type.Literal('-started'),
    Type.Literal('started'),
    Type.Literal('-paid'),
    Type.Literal('paid'),
    Type.Literal('-updated'),
    Type.Literal('updated'),
  ]),
);
