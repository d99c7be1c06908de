/**
 * HTTP to NICE's Start API: JSON both ways, HTTP Basic `clientId:secretKey` per channel, one
 * pooled dispatcher for every host (live, sandbox, or a channel's own base URL). Every technical
 * failure becomes a ConnectorError whose `inDoubt` says whether NICE may have acted on the request
 * (design.md principle 1). NICE answers declines and most validation errors with HTTP 200 and a
 * `resultCode` (spec §8.12); those bodies go back to transformers.ts, which decides.
 */
import { Agent, request } from 'undici';
import { classifyPgTransportError, pgCallDeadline } from '../transport-errors.js';
import { ConnectorError, type ChannelCredentials } from '../types.js';

export interface NiceClientOptions {
  /** TCP (and TLS) connect timeout (spec §0.7: 5 s) */
  connectTimeoutMs: number;
  /**
   * time allowed for the answer's headers, and between body chunks, once the request is sent
   * (spec §0.7: 30 s); a whole call (connect included) ends by connect + read timeout, however
   * the answer trickles
   */
  readTimeoutMs: number;
}

/**
 * HTTP statuses NICE itself answers for a request it refused before acting on it (spec §8.12:
 * 401 auth, 403 forbidden, 404 no such resource, 405 wrong method). Any other non-2xx (a proxy's
 * 408/499, a 5xx) may have followed a request NICE processed: in doubt.
 */
const REFUSED_BEFORE_ACTING = new Set([401, 403, 404, 405]);

/** What NICE answered: its HTTP status and the parsed JSON body (an object carrying `resultCode`). */
export interface NiceAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** `Authorization: Basic base64(clientId:secretKey)` (spec §0.3). */
export function basicAuthorization(channel: Pick<ChannelCredentials, 'mid' | 'merchantKey'>): string {
  return `Basic ${Buffer.from(`${channel.mid}:${channel.merchantKey.reveal()}`, 'utf8').toString('base64')}`;
}

export class NiceClient {
  readonly #agent: Agent;
  readonly #readTimeoutMs: number;
  readonly #timeouts: NiceClientOptions;

  constructor(opts: NiceClientOptions) {
    this.#readTimeoutMs = opts.readTimeoutMs;
    this.#timeouts = { connectTimeoutMs: opts.connectTimeoutMs, readTimeoutMs: opts.readTimeoutMs };
    this.#agent = new Agent({ connect: { timeout: opts.connectTimeoutMs }, keepAliveTimeout: 4_000 });
  }

  /**
   * Sends one Start API call and returns NICE's answer when it is a JSON object with a
   * `resultCode`, whatever its HTTP status (NICE puts 401/404 results in the body too).
   * `op` names the call in errors (never a URL: the host may be internal).
   * Throws ConnectorError: `connect` (not in doubt); `timeout`, `bad_response` (garbage), `http_status`
   * (5xx or a proxy's 4xx without a NICE body) in doubt; `http_status` 401/403/404/405 without a
   * NICE body not in doubt.
   */
  async call(
    baseUrl: string,
    channel: Pick<ChannelCredentials, 'mid' | 'merchantKey'>,
    op: string,
    req: { method: 'GET' | 'POST'; path: string; query?: Record<string, string>; body?: object },
  ): Promise<NiceAnswer> {
    const url = new URL(`${baseUrl.replace(/\/+$/, '')}${req.path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    let status: number;
    let text: string;
    const deadline = pgCallDeadline(this.#timeouts);
    try {
      const res = await request(url, {
        method: req.method,
        dispatcher: this.#agent,
        headers: {
          authorization: basicAuthorization(channel),
          accept: 'application/json',
          ...(req.body ? { 'content-type': 'application/json;charset=utf-8' } : {}),
        },
        body: req.body ? JSON.stringify(req.body) : undefined,
        headersTimeout: this.#readTimeoutMs,
        bodyTimeout: this.#readTimeoutMs,
        signal: deadline.signal,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw classifyPgTransportError(err, `NICE ${op}`);
    } finally {
      deadline.clear();
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const isNiceBody = !!body && typeof body === 'object' && !Array.isArray(body) && typeof (body as { resultCode?: unknown }).resultCode === 'string';
    if (status >= 500) throw new ConnectorError('http_status', `NICE ${op}: HTTP ${status}`, true, false);
    if (isNiceBody) return { status, body: body as Record<string, unknown> };
    if (status >= 200 && status < 300) throw new ConnectorError('bad_response', `NICE ${op}: answer is not a NICE JSON object`, true, false);
    throw new ConnectorError('http_status', `NICE ${op}: HTTP ${status}`, !REFUSED_BEFORE_ACTING.has(status), false);
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
