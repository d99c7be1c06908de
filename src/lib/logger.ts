import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line even if a caller logs a whole body by mistake.
 * Card data is masked before it is logged anywhere; this is the second fence.
 */
const REDACT = [
  'card_number', '*.card_number', 'pwd_2digit', '*.pwd_2digit', 'birth', '*.birth', 'cvc', '*.cvc', 'expiry', '*.expiry',
  'imp_secret', '*.imp_secret', 'req.headers.authorization', 'req.headers["x-imptokenheader"]',
  'card_num', '*.card_num', 'card_pwd', '*.card_pwd', 'buyer_auth_num', '*.buyer_auth_num', 'api_key', '*.api_key', 'cancel_pw', '*.cancel_pw',
];

/**
 * `json`: one JSON object a line (log shippers, production). `pretty`: readable coloured lines for a
 * person at a terminal (pino-pretty). `auto`: pretty when stdout is a terminal, JSON otherwise.
 */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** What of a request Fastify hands the `req` serializer (its own request object). */
interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  headers?: Record<string, string | string[] | undefined>;
  socket?: { remotePort?: number };
}

/**
 * A request as log lines show it (Fastify's "incoming request", its 5xx lines): Fastify's own
 * fields, with the URL's path only (decision 0053). Query strings carry what people typed: the
 * console's searches (buyers' e-mails, names, phone numbers, customer_uids), a sign-in's `next`
 * that repeats them, V1 lookups (`/subscribe/customers?customer_uid[]=…`).
 */
export function requestForLog(req: LoggedRequest) {
  return {
    method: req.method,
    url: pathOf(req.url),
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/**
 * Where a request of Pier's went, as log lines show it: an absolute URL's origin and path, without
 * the user information, query string or fragment a receiver's secret may travel in (a `notice_url`
 * with `user:password@`, a `?token=`); what is not an absolute URL, without its query (pathOf).
 */
export function destinationOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return pathOf(url)!;
  }
}

/** A request URL without its query string (or fragment). */
export function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const end = url.search(/[?#]/);
  return end < 0 ? url : url.slice(0, end);
}

export function createLogger(level: string, destination?: DestinationStream, opts: { format?: LogFormat; mode?: 'sandbox' | 'production' } = {}): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    // Fastify takes its logger instance's serializers over its own
    serializers: { req: requestForLog },
  };
  if (destination) return pino(options, destination);
  if (wantsPretty(opts.format ?? 'auto', opts.mode ?? 'sandbox')) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options);
}

/** Whether lines are printed for a person (pino-pretty) rather than as JSON. */
export function wantsPretty(format: LogFormat, mode: 'sandbox' | 'production', stdoutIsTTY = process.stdout.isTTY === true): boolean {
  if (format !== 'auto') return format === 'pretty';
  // production stays JSON even on a terminal: its logs are meant for a collector
  return mode === 'sandbox' && stdoutIsTTY;
}
