/**
 * Form-encoded and query-string values arrive as strings, and JSON bodies often carry numbers as
 * strings too (`"amount": "3000"`); V1 accepts both. Values are coerced only where the route schema
 * asks for a number or boolean. A fractional or non-numeric string is left as it is so that
 * validation rejects it and names the field.
 */
type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
};

const NUMERIC = /^-?\d+(\.\d+)?$/;

export function coerceFormValues(schema: Schema | undefined, value: unknown): unknown {
  if (!schema) return value;
  if (schema.anyOf) {
    for (const s of schema.anyOf) {
      const v = coerceFormValues(s, value);
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
    case 'null':
      return value === '' ? null : value;
    case 'array': {
      if (value === undefined) return value;
      // qs turns `a[0]=x&a[1]=y` into an array but `a[5]=x` into an object keyed by index
      const list = Array.isArray(value)
        ? value
        : value && typeof value === 'object'
          ? Object.keys(value).sort((a, b) => Number(a) - Number(b)).map((k) => (value as Record<string, unknown>)[k])
          : [value];
      return list.map((v) => coerceFormValues(schema.items, v));
    }
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
      const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
      for (const [k, s] of Object.entries(schema.properties ?? {})) {
        if (k in out) out[k] = coerceFormValues(s, out[k]);
      }
      return out;
    }
    default:
      return value;
  }
}
