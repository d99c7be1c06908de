import { PierError, type ErrorKind } from '../core/errors.js';

/**
 * The one table from each error kind (core/errors.ts) to an HTTP status and a V1 envelope `code`
 * (design.md house rules). Everything that goes wrong at the API edge becomes a PierError of one
 * of these kinds.
 *
 * V1 conventions (spec/api-v1.md §1.3-1.5): `code: 0` only on success; `-1` for unknown resources
 * and card-authentication failures; `1` for business refusals, which V1 answers with HTTP 200.
 */
export const ERROR_KINDS = {
  invalid_parameter: { http: 400, code: 1 },
  unauthorized: { http: 401, code: -1 },
  /** V1 answers a getToken without credentials with 400 and code -1, not 1 (docs/decisions/0131) */
  missing_credentials: { http: 400, code: -1 },
  not_found: { http: 404, code: -1 },
  method_not_allowed: { http: 405, code: -1 },
  payload_too_large: { http: 413, code: 1 },
  header_too_large: { http: 431, code: 1 },
  uri_too_long: { http: 414, code: 1 },
  request_timeout: { http: 408, code: 1 },
  expectation_failed: { http: 417, code: 1 },
  /** `Retry-After` says when to retry */
  rate_limited: { http: 429, code: 1 },
  unsupported_media_type: { http: 415, code: 1 },
  not_supported: { http: 501, code: 1 },
  /** V1 answers business refusals with 200 */
  refused: { http: 200, code: 1 },
  card_refused: { http: 200, code: -1 },
  /** V1 answers 200 with code -1 (docs/decisions/0011) */
  unknown_buyer: { http: 200, code: -1 },
  pg_unavailable: { http: 502, code: 1 },
  /** a process that is stopping (SIGTERM) answers what still reaches it so, as Fastify would, in V1's envelope */
  unavailable: { http: 503, code: 1 },
  internal: { http: 500, code: -1 },
} as const satisfies Record<ErrorKind, { http: number; code: number }>;

export { PierError, type ErrorKind };

/** The HTTP status V1 answers `err` with. */
export const httpStatusOf = (err: PierError): number => ERROR_KINDS[err.kind].http;

export interface Envelope<T = unknown> {
  code: number;
  message: string | null;
  response: T | null;
}

export const ok = <T>(response: T): Envelope<T> => ({ code: 0, message: null, response });
