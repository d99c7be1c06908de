import { Agent, request } from 'undici';
import { lookup as dnsLookup } from 'node:dns';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { boundedHostLookup, dnsFirstHostLookup, LOOKUP_TIMED_OUT } from './host-lookup.js';
import { DESTINATION_REFUSED, DestinationGuard, type HostLookup } from './network-guard.js';

/** What one HTTP attempt came to. `ok` is any 2xx; redirects are not followed. */
export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** the start of the receiver's answer, for the delivery log */
  excerpt: string | null;
  /** the attempt was cut short by the caller's signal (shutdown), not by the receiver: it does not count */
  aborted?: boolean;
}

export interface SenderOptions {
  /** V1: connect 10 s */
  connectTimeoutMs: number;
  /** V1: read 30 s (between bytes) */
  readTimeoutMs: number;
  /**
   * The whole attempt (connect, headers and body) ends by this deadline, however the receiver
   * trickles its answer. Default: connect + read timeouts.
   */
  deadlineMs?: number;
  /** which destinations may be reached; default: all (sandbox) */
  guard?: DestinationGuard;
  /**
   * The system's lookup, for names DNS does not know and those of the hosts file; default
   * dns.lookup (getaddrinfo, as every other connection of Pier). Given without `nameservers`
   * (tests), it resolves every name, and DNS is not asked first.
   */
  resolveHost?: HostLookup;
  /** DNS servers (`host:port`) webhook host names are asked of first; default the system's (decision 0125) */
  nameservers?: string[];
}

export const V1_WEBHOOK_TIMEOUTS: SenderOptions = { connectTimeoutMs: 10_000, readTimeoutMs: 30_000 };

/** characters of the receiver's answer kept for the delivery log */
const EXCERPT_CHARS = 300;
/**
 * How long the body of an answer is read once its status is in: the excerpt, then the rest of a
 * short body (so the connection can be kept alive), at most this long and this many bytes. A body
 * that is longer or slower is dropped with its connection; it never changes what the status said.
 */
const BODY_READ_MS = 1_000;
const BODY_READ_BYTES = 64 * 1024;

/**
 * POSTs webhook bodies with V1's timeouts (connect 10 s, read 30 s by default) and a total
 * deadline per attempt. Never throws: network errors, refusals and timeouts come back as a result
 * with `error` set. Errors name what happened, never an address (the receiver may be internal).
 */
export class WebhookSender {
  private readonly agent: Agent;
  private readonly guard: DestinationGuard;
  private readonly deadlineMs: number;

  constructor(private readonly opts: SenderOptions = V1_WEBHOOK_TIMEOUTS) {
    this.guard = opts.guard ?? DestinationGuard.sandbox();
    this.deadlineMs = opts.deadlineMs ?? opts.connectTimeoutMs + opts.readTimeoutMs;
    // a lookup gives up at the attempt's deadline; DNS is asked without taking a thread, and what
    // only the system's lookup knows takes no more than webhooks' share of libuv's threads
    // (host-lookup.ts, decisions 0057, 0114, 0125); the guard checks the addresses either gives
    const systemLookup = boundedHostLookup(opts.resolveHost ?? (dnsLookup as HostLookup), this.deadlineMs);
    const lookup = opts.resolveHost && !opts.nameservers ? systemLookup : dnsFirstHostLookup({ timeoutMs: this.deadlineMs, systemLookup, nameservers: opts.nameservers });
    this.agent = new Agent({
      connect: { timeout: opts.connectTimeoutMs, lookup: this.guard.lookupVia(lookup) },
      headersTimeout: opts.readTimeoutMs,
      bodyTimeout: opts.readTimeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  /** `signal` ends the attempt early (shutdown); the result then has `aborted: true`. */
  async send(url: string, payload: string, headers: Record<string, string>, signal?: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    let target: URL;
    try {
      target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('only http and https URLs');
    } catch (err) {
      return { ok: false, statusCode: null, error: `invalid URL: ${(err as Error).message}`, durationMs: 0, excerpt: null };
    }
    if (this.guard.refusesUrl(target)) return { ok: false, statusCode: null, error: describe({ code: DESTINATION_REFUSED }), durationMs: 0, excerpt: null };
    // one controller for both ends of the attempt: its deadline and the caller's shutdown signal
    // (AbortSignal.timeout + AbortSignal.any cost more per attempt than the rest of the request setup)
    const stop = new AbortController();
    let deadlinePassed = false;
    const timer = setTimeout(() => {
      deadlinePassed = true;
      stop.abort();
    }, this.deadlineMs);
    // like AbortSignal.timeout's: the deadline alone never keeps the process alive
    timer.unref();
    const onShutdown = () => stop.abort();
    if (signal?.aborted) stop.abort();
    else signal?.addEventListener('abort', onShutdown, { once: true });
    // undici applies an abort only once the connection is made: until then (a lookup or a TCP
    // connect still running) the attempt ends by this instead, at its deadline
    const stopped = new Promise<never>((_, reject) => stop.signal.addEventListener('abort', () => reject(stop.signal.reason), { once: true }));
    try {
      const sent = request(target, {
        method: 'POST',
        headers: { 'user-agent': 'Pier-Webhook/1.0', ...headers },
        body: payload,
        dispatcher: this.agent,
        headersTimeout: this.opts.readTimeoutMs,
        bodyTimeout: this.opts.readTimeoutMs,
        signal: stop.signal,
      });
      // it fails later, once its connection is made and the abort applied: nobody waits for it then
      sent.catch(() => {});
      const res = await Promise.race([sent, stopped]);
      // decided on the status, as V1 decides: the receiver's 200 is its word that it has the
      // notification, whatever its body then does (trickles, never ends, is reset: decision 0114)
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const excerpt = await excerptOf(res.body);
      return { ok, statusCode: res.statusCode, error: ok ? null : `HTTP ${res.statusCode}`, durationMs: took(), excerpt: excerpt || null };
    } catch (err) {
      if (signal?.aborted && !deadlinePassed) return { ok: false, statusCode: null, error: 'aborted: Pier is shutting down', durationMs: took(), excerpt: null, aborted: true };
      if (deadlinePassed) return { ok: false, statusCode: null, error: `deadline exceeded (${this.deadlineMs} ms for the whole attempt)`, durationMs: took(), excerpt: null };
      return { ok: false, statusCode: null, error: describe(err), durationMs: took(), excerpt: null };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onShutdown);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/**
 * The start of a response body, read within BODY_READ_MS and BODY_READ_BYTES; the body is then
 * destroyed unless it ended, which closes its connection rather than leaving it open and busy with
 * an answer nobody reads. Never throws: a body that errors or is reset gives what had arrived.
 */
async function excerptOf(body: Readable): Promise<string> {
  // for good: destroying an unfinished body emits an error (undici's RequestAbortedError), and so
  // may a reset or the attempt's deadline after the excerpt was taken; none is anyone's concern now
  body.on('error', () => {});
  const decoder = new StringDecoder('utf8');
  let text = '';
  let bytes = 0;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      body.off('data', onData);
      body.off('end', done);
      body.off('error', done);
      body.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (text.length < EXCERPT_CHARS) text += decoder.write(chunk);
      if (bytes >= BODY_READ_BYTES) done();
    };
    const timer = setTimeout(done, BODY_READ_MS);
    timer.unref();
    body.on('data', onData);
    body.once('end', done);
    body.once('error', done);
    body.once('close', done);
  });
  if (!body.readableEnded) body.destroy();
  return text.slice(0, EXCERPT_CHARS);
}

const KNOWN_ERRORS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'read timeout (no response headers)',
  UND_ERR_BODY_TIMEOUT: 'read timeout (response body)',
  UND_ERR_SOCKET: 'connection closed by the receiver',
  UND_ERR_HEADERS_OVERFLOW: 'response headers too large',
  [DESTINATION_REFUSED]: 'destination refused: not a public address (see webhooks.allowPrivate)',
  [LOOKUP_TIMED_OUT]: 'host lookup timed out',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS temporarily failing)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connect timeout',
  EPIPE: 'connection reset',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate not trusted (self-signed)',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate not trusted (self-signed)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
};

/**
 * A short, fixed description of a network error. Never the error's own message: Node's messages
 * carry the address and port connected to (`connect ECONNREFUSED 10.0.3.7:5432`), which would
 * tell whoever set the URL what is listening inside the operator's network.
 */
function describe(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; errors?: { code?: string }[] }; errors?: { code?: string }[] };
  const code = [e.code, e.cause?.code, e.errors?.[0]?.code, e.cause?.errors?.[0]?.code].find((c) => c && KNOWN_ERRORS[c]) ?? e.code ?? e.cause?.code;
  if (code && KNOWN_ERRORS[code]) return KNOWN_ERRORS[code];
  return code && /^[A-Z0-9_]{2,40}$/.test(code) ? `network error (${code})` : 'network error';
}
