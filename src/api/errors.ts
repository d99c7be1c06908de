/**
 * The one closed list of API error kinds, and the one table from each to an HTTP status and a
 * V1 envelope `code` (design.md house rules). Everything that goes wrong at the API edge becomes
 * one of these.
 *
 * V1 conventions (spec/api-v1.md §1.3-1.5): `code: 0` only on success; `-1` for unknown resources
 * and card-authentication failures; `1` for business refusals, which V1 answers with HTTP 200.
 */
export const ERROR_KINDS = {
  /** malformed or missing parameters */
  invalid_parameter: { http: 400, code: 1 },
  /** token missing, invalid or expired; wrong imp_key/imp_secret */
  unauthorized: { http: 401, code: -1 },
  /** the resource does not exist for this merchant */
  not_found: { http: 404, code: -1 },
  /** the HTTP method is not allowed on this path */
  method_not_allowed: { http: 405, code: -1 },
  /** the body is larger than the configured limit */
  payload_too_large: { http: 413, code: 1 },
  /** the request line and headers are larger than Node's 16 KB limit */
  header_too_large: { http: 431, code: 1 },
  /** the client did not finish sending its request in time */
  request_timeout: { http: 408, code: 1 },
  /** too many attempts from this address or for this key (sign-in, getToken); `Retry-After` says when to retry */
  rate_limited: { http: 429, code: 1 },
  /** the content type is not JSON or form-encoded */
  unsupported_media_type: { http: 415, code: 1 },
  /** a V1 path Pier does not implement, or a feature the channel's PG does not offer */
  not_supported: { http: 501, code: 1 },
  /** a business refusal (already paid, over-cancel, unknown customer…): V1 answers these with 200 */
  refused: { http: 200, code: 1 },
  /** the card was refused at authentication (billing key issuance, key-in check) */
  card_refused: { http: 200, code: -1 },
  /** `again` with a customer_uid that has no billing key: V1 answers 200 with code -1 (docs/decisions/0011) */
  unknown_buyer: { http: 200, code: -1 },
  /** the PG could not be reached (nothing was charged), or its answer was lost (the outcome is being confirmed) */
  pg_unavailable: { http: 502, code: 1 },
  /** a bug: logged with a request id, never with the body */
  internal: { http: 500, code: -1 },
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

export class ApiError extends Error {
  override name = 'ApiError';
  /**
   * @param message V1's Korean text, exactly: merchant code compares it for equality
   * @param detail Pier's English explanation, sent in the `x-pier-detail` header, never in `message`
   */
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
  get httpStatus(): number {
    return ERROR_KINDS[this.kind].http;
  }
  get code(): number {
    return ERROR_KINDS[this.kind].code;
  }
}

export interface Envelope<T = unknown> {
  code: number;
  message: string | null;
  response: T | null;
}

export const ok = <T>(response: T): Envelope<T> => ({ code: 0, message: null, response });
