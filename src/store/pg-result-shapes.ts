import { createRequire } from 'node:module';
import pg from 'pg';

/**
 * pg's per-result setup, done once per result shape instead of on every statement.
 *
 * For every result, pg's `Result.addFields` looks up a type parser per column and builds the empty
 * row its rows are copied from, as a null-prototype object then spread into a plain one (so that a
 * column named `__proto__` is an ordinary property and every row has one fixed shape). On Node 20
 * spreading a null-prototype object costs about 0.7 µs a column: 52 µs for a payment row
 * (`RETURNING *`, 70 columns), on every approval, every `GET /payments/…`, every read of a payment
 * (docs/performance.md, "pg's per-result setup"). Pier runs a few dozen result shapes over and over,
 * so the parsers and the empty row pg made for a shape are kept and handed to the next result of the
 * same shape: the same objects pg would have built, checked column by column (name, type, format).
 *
 * Only results whose parsers come from pg's global types are kept (pg's default for every client,
 * and the only kind Pier makes); a query or client with parsers of its own gets pg's own path. A
 * parser registered globally later (`pg.types.setTypeParser`) makes every kept shape stale. The
 * upstream proposal for the same memo is brianc/node-postgres#3753 (open); when a pg release does
 * this itself, this module goes.
 */

interface FieldDescription {
  name: string;
  dataTypeID: number;
  format?: string;
}

type Parser = (value: unknown) => unknown;

/** the parts of pg's Result (pg/lib/result.js) this module reads and sets */
interface PgResult {
  fields: FieldDescription[];
  _parsers: Parser[] | undefined;
  _types: unknown;
  _prebuiltEmptyResultObject: object | null;
}

interface PgTypeOverrides {
  _types: unknown;
  text: Record<string, unknown>;
  binary: Record<string, unknown>;
}

interface Shape {
  fields: FieldDescription[];
  parsers: Parser[];
  emptyRow: object;
}

/** shapes kept per column count; the oldest goes first past this many of one count */
const SHAPES_PER_WIDTH = 32;

let installed = false;
let hits = 0;

/** how many results took a kept shape since this process started (tests) */
export const resultShapeHits = () => hits;

/** Installs the memo on pg's Result, once per process. */
export function rememberResultShapes(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const Result = require('pg/lib/result.js') as { prototype: { addFields(this: PgResult, fields: FieldDescription[]): void } };
  const TypeOverrides = require('pg/lib/type-overrides.js') as new () => PgTypeOverrides;
  const original = Result.prototype.addFields;
  const globalTypes = pg.types as unknown as { setTypeParser: (...args: unknown[]) => unknown };
  let byWidth = new Map<number, Shape[]>();

  const setTypeParser = globalTypes.setTypeParser;
  globalTypes.setTypeParser = function (this: unknown, ...args: unknown[]) {
    byWidth = new Map();
    return setTypeParser.apply(this, args);
  };

  // parsers from pg's global types only: a client's TypeOverrides with nothing of its own set
  const globalParsers = (types: unknown): boolean => {
    if (types === undefined || types === globalTypes) return true;
    if (!(types instanceof TypeOverrides) || types._types !== globalTypes) return false;
    for (const _ in types.text) return false;
    for (const _ in types.binary) return false;
    return true;
  };

  const same = (a: FieldDescription[], b: FieldDescription[]): boolean => {
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      const y = b[i];
      if (x.name !== y.name || x.dataTypeID !== y.dataTypeID || x.format !== y.format) return false;
    }
    return true;
  };

  Result.prototype.addFields = function (this: PgResult, fields: FieldDescription[]) {
    if (fields.length === 0 || !globalParsers(this._types)) return original.call(this, fields);
    const kept = byWidth.get(fields.length);
    const shape = kept?.find((s) => same(s.fields, fields));
    if (shape) {
      hits++;
      this.fields = fields;
      // pg only reads both: one array and one empty row serve every result of the shape
      this._parsers = shape.parsers;
      this._prebuiltEmptyResultObject = shape.emptyRow;
      return;
    }
    original.call(this, fields);
    const list = kept ?? [];
    if (!kept) byWidth.set(fields.length, list);
    if (list.length >= SHAPES_PER_WIDTH) list.shift();
    list.push({ fields, parsers: this._parsers!, emptyRow: this._prebuiltEmptyResultObject! });
  };
}
