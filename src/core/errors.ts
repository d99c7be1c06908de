/**
 * The errors a use case raises: what went wrong (`kind`, one of a closed list) and V1's message.
 * core/ says what happened; the API edge (api/errors.ts) alone says how V1 answers it (the HTTP
 * status and the envelope `code` for each kind), and so do the console and the CLI in their own way.
 */
export type ErrorKind =
  /** malformed or missing parameters */
  | 'invalid_parameter'
  /** token missing, invalid or expired; wrong imp_key/imp_secret */
  | 'unauthorized'
  /** getToken without imp_key or imp_secret (docs/decisions/0131) */
  | 'missing_credentials'
  /** the resource does not exist for this merchant */
  | 'not_found'
  /** the HTTP method is not allowed on this path */
  | 'method_not_allowed'
  /** the body is larger than the configured limit */
  | 'payload_too_large'
  /** the request line and headers are larger than Node's 16 KB limit */
  | 'header_too_large'
  /** a path segment is longer than the router takes (500 characters) */
  | 'uri_too_long'
  /** the client did not finish sending its request in time */
  | 'request_timeout'
  /** an `Expect` header other than `100-continue` */
  | 'expectation_failed'
  /** too many attempts from this address or for this key (sign-in, getToken) */
  | 'rate_limited'
  /** the content type is not JSON or form-encoded */
  | 'unsupported_media_type'
  /** a V1 path Pier does not implement, or a feature the channel's PG does not offer */
  | 'not_supported'
  /** a business refusal (already paid, over-cancel, unknown customer…) */
  | 'refused'
  /** the card was refused at authentication (billing key issuance, key-in check) */
  | 'card_refused'
  /** `again` with a customer_uid that has no billing key (docs/decisions/0011) */
  | 'unknown_buyer'
  /** the PG could not be reached (nothing was charged), or its answer was lost (the outcome is being confirmed) */
  | 'pg_unavailable'
  /** this Pier process is stopping: the request was not taken (nothing done); send it again */
  | 'unavailable'
  /** a bug: logged with a request id, never with the body */
  | 'internal';

/**
 * V1's answer to a request this process will not process because it stops (SIGTERM): nothing was
 * asked of the PG for it, so sending it again (to another process, or after the restart) is safe.
 */
export const STOPPING_MESSAGE = '서버가 종료 중입니다. 다시 요청해 주세요.';

export class PierError extends Error {
  override name = 'PierError';
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
}

/**
 * A PG call refused because this Pier process began stopping (SIGTERM) after the request had made
 * its one PG call (decisions 0113, 0130): the stop's deadline covers one PG operation, and a call
 * started past it would be cut off by the backstop. Not a V1 answer: whoever raises it leaves what
 * it was doing open (an attempt in doubt, a confirmation pending) for reconciliation or the jobs,
 * and the handler that catches it answers as it does for an outcome not yet known.
 */
export class PgCallRefusedAtStop extends Error {
  override name = 'PgCallRefusedAtStop';
}

/** Throws PgCallRefusedAtStop when the stop has begun; `what` names the call refused (for the log). */
export function refusePgCallWhenStopping(stopping: AbortSignal | undefined, what: string): void {
  if (stopping?.aborted) throw new PgCallRefusedAtStop(`this Pier process is stopping: ${what} was not sent`);
}
