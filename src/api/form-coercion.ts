import { isDeepStrictEqual } from 'node:util';
import { INTEGER_ID } from './schemas.js';

/**
 * Form-encoded and query-string values arrive as strings, and JSON bodies often carry numbers as
 * strings too (`"amount": "3000"`); V1 accepts both. Values are coerced only where the route schema
 * asks for a number or boolean. A fractional or non-numeric string is left as it is so that
 * validation rejects it and names the field.
 *
 * A field that takes one value or a list of them (`imp_uid[]`, unschedule's `merchant_uid`,
 * `notice_url`) gets a list of one for a single value, which is what a form sends for `name=x`
 * (qs makes a list of repeated keys and of `name[]`). Nothing else becomes a list: an object
 * (`{"merchant_uid": {"first": "x"}}`, `merchant_uid[first]=x`, or qs's object for an index over
 * its limit) is left for validation to refuse, and so is a single value for a field that takes a
 * string, an object or a list of anything (`custom_data: "abc"` stays a string).
 *
 * An id field marked `x-integerId` (merchant_uid, customer_uid) takes a JSON integer as its digits:
 * `customer_uid: 17` is `"17"`, what V1's Node client sends for a merchant's numeric key
 * (docs/decisions/0109). Only an integer JSON carries exactly: one past 2^53 was already rounded
 * by the parser, so it is left for validation to refuse rather than stored as an id nobody sent.
 * No other string field takes a number (a card number, a birth date or a phone number as a number
 * has lost its digits or its leading zero).
 */
type Schema = {
  type?: string | string[];
  [INTEGER_ID]?: boolean;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
};

const NUMERIC = /^-?\d+(\.\d+)?$/;

export function coerceFormValues(schema: Schema | undefined, value: unknown): unknown {
  return coerce(schema, value, true);
}

/** `oneToList`: a single value may become a list of one (the field takes one or a list of the same) */
function coerce(schema: Schema | undefined, value: unknown, oneToList: boolean): unknown {
  if (!schema) return value;
  if (schema.anyOf) {
    const listOfOne = isOneOrList(schema.anyOf);
    for (const s of schema.anyOf) {
      const v = coerce(s, value, listOfOne);
      if (v !== value) return v;
    }
    return value;
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'integer':
    case 'number':
      return typeof value === 'string' && NUMERIC.test(value) ? Number(value) : value;
    case 'boolean':
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      return value;
    case 'string':
      return typeof value === 'number' && schema[INTEGER_ID] === true && Number.isSafeInteger(value) ? String(value) : value;
    case 'null':
      return value === '' ? null : value;
    case 'array': {
      if (Array.isArray(value)) return value.map((v) => coerce(schema.items, v, true));
      // a number or a boolean too, so that validation names the entry (`merchant_uid.0 must be string`)
      const single = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
      return single && oneToList ? [coerce(schema.items, value, true)] : value;
    }
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
      const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const [k, s] of Object.entries(schema.properties ?? {})) {
        if (k in out) out[k] = coerce(s, out[k], true);
      }
      return out;
    }
    default:
      return value;
  }
}

/** isOneOrList's answers: a route's schema is built once, so each union is compared once, not per request */
const oneOrList = new WeakMap<Schema[], boolean>();

/** A union of a list and a branch that is the list's entry: a field of one value or a list of them. */
function isOneOrList(branches: Schema[]): boolean {
  let known = oneOrList.get(branches);
  if (known === undefined) {
    known = branches.some((list) => list.type === 'array' && list.items !== undefined && branches.some((one) => one !== list && isDeepStrictEqual(one, list.items)));
    oneOrList.set(branches, known);
  }
  return known;
}
