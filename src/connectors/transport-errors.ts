/**
 * How a failed HTTP call to a PG is classified, shared by every connector's client: whether the
 * request can have reached the PG (in doubt) or certainly did not (safe to resend).
 */
import { ConnectorError } from './types.js';

/** Network error codes meaning the request never reached the PG. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
]);
const READ_TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** A PG call's deadline: abort it with `signal`; `clear()` once the answer is read. */
export interface PgCallDeadline {
  signal: AbortSignal;
  clear(): void;
}

/**
 * The signal that bounds a whole PG call: its connect plus read timeout (decision 0061). undici's
 * read timeouts are per wait (the headers, then each body chunk), so a PG or a proxy sending its
 * answer a byte at a time would otherwise keep a call alive past what job leases and the
 * reconciliation grace count on (decisions 0056, 0009). Its abort comes back as a `TimeoutError`,
 * as AbortSignal.timeout's would. Not AbortSignal.timeout itself: it costs about three times a
 * controller and a timer per call, and its timer stays armed for the whole deadline after the
 * answer (tens of thousands of them at a few hundred payments a second); this one is cleared.
 */
export function pgCallDeadline(timeouts: { connectTimeoutMs: number; readTimeoutMs: number }): PgCallDeadline {
  return new CallDeadline(timeouts.connectTimeoutMs + timeouts.readTimeoutMs);
}

/** A class, not an object with a `clear` arrow: a method needs no name set per call (decision 0030). */
class CallDeadline implements PgCallDeadline {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  constructor(ms: number) {
    const controller = this.#controller;
    this.#timer = setTimeout(() => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
    // like AbortSignal.timeout's: the deadline alone never keeps the process alive
    this.#timer.unref();
  }
  get signal(): AbortSignal {
    return this.#controller.signal;
  }
  clear(): void {
    clearTimeout(this.#timer);
  }
}

/** Error codes found on an error, its cause chain and aggregated errors (happy-eyeballs connects). */
function codesOf(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 4) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === 'string' ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => codesOf(x, depth + 1)) : [];
  return [...own, ...nested, ...codesOf(e.cause, depth + 1)];
}

/** The call's deadline passed (pgCallDeadline): AbortSignal.timeout's reason, a DOMException. */
const passedDeadline = (err: unknown): boolean => err instanceof DOMException && err.name === 'TimeoutError';

/**
 * Sorts a transport error: a connect failure never reached the PG (not in doubt, safe to resend);
 * a read timeout, the call's deadline or a broken socket after sending leaves the outcome unknown
 * (in doubt).
 */
export function classifyPgTransportError(err: unknown, what: string): ConnectorError {
  // The message reaches merchants (fail_reason): error codes only, never the socket's own text,
  // which names the PG's internal address; the cause keeps it for the logs.
  const codes = codesOf(err);
  if (codes.some((c) => NOT_SENT.has(c))) {
    return new ConnectorError('connect', `${what}: could not connect (${codes.join(', ')})`, false, true, { cause: err });
  }
  if (codes.some((c) => READ_TIMEOUT.has(c))) {
    return new ConnectorError('timeout', `${what}: no answer in time (${codes.join(', ')})`, true, false, { cause: err });
  }
  // A connect that fails in time is NOT_SENT above, and a connect that succeeds leaves the read
  // timeout's worth of the deadline, so the deadline passes after the request went out: in doubt.
  // (Only a process stalled while connecting sees it pass first; undici then never sends, and
  // calling that in doubt costs an inquiry, never a second charge.)
  if (passedDeadline(err)) {
    return new ConnectorError('timeout', `${what}: no answer in time (the call's deadline passed)`, true, false, { cause: err });
  }
  return new ConnectorError(
    'bad_response',
    `${what}: connection failed after the request was sent (${codes.join(', ') || 'unknown'})`,
    true,
    false,
    { cause: err },
  );
}
