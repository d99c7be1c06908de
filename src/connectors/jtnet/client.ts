/**
 * HTTP to tPay's REST API: form-encoded POSTs to `{baseUrl}/api/v1/<op>`, JSON answers.
 * Every technical failure becomes a ConnectorError whose `inDoubt` says whether tPay may have
 * acted on the request (design.md principle 1). Declines are not failures: tPay answers them
 * with HTTP 200 and a result code, which transformers.ts maps.
 */
import { Agent, request } from 'undici';
import { classifyPgTransportError, pgCallDeadline } from '../transport-errors.js';
import { ConnectorError } from '../types.js';

export type TpayOperation = 'gen_billkey' | 'payments_token' | 'payments' | 'del_billkey' | 'refunds' | 'trans_search' | 'billkey_search';

export interface TpayClientOptions {
  /** e.g. `https://webtx.tpay.co.kr`, or the simulator's address (no `/api/v1`) */
  baseUrl: string;
  /** TCP (and TLS) connect timeout */
  connectTimeoutMs: number;
  /**
   * time allowed for the answer's headers, and between body chunks, once the request is sent; a
   * whole call (connect included) ends by connect + read timeout, however the answer trickles
   */
  readTimeoutMs: number;
}

/** Sorts a transport error from tPay (see transport-errors.ts). */
export const classifyTransportError = (err: unknown, op: string): ConnectorError => classifyPgTransportError(err, `tPay ${op}`);

export class TpayClient {
  readonly #agent: Agent;
  readonly #base: string;
  readonly #readTimeoutMs: number;
  readonly #timeouts: { connectTimeoutMs: number; readTimeoutMs: number };

  constructor(opts: TpayClientOptions) {
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    this.#readTimeoutMs = opts.readTimeoutMs;
    this.#timeouts = { connectTimeoutMs: opts.connectTimeoutMs, readTimeoutMs: opts.readTimeoutMs };
    this.#agent = new Agent({ connect: { timeout: opts.connectTimeoutMs }, keepAliveTimeout: 4_000 });
  }

  /**
   * POSTs `fields` form-encoded and returns the parsed JSON body.
   * Throws ConnectorError: `connect` (not in doubt), `timeout` / `http_status` (any non-200) / `bad_response` (in doubt).
   */
  async post(op: TpayOperation, fields: object): Promise<unknown> {
    return this.postTo(`/api/v1/${op}`, op, fields);
  }

  /** Like `post`, to any path of the tPay host (e.g. `/resultConfirm`). */
  async postTo(path: string, op: string, fields: object): Promise<unknown> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined && v !== null) form.append(k, String(v));
    }
    let status: number;
    let text: string;
    const deadline = pgCallDeadline(this.#timeouts);
    try {
      const res = await request(`${this.#base}${path}`, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', accept: 'application/json' },
        body: form.toString(),
        headersTimeout: this.#readTimeoutMs,
        bodyTimeout: this.#readTimeoutMs,
        signal: deadline.signal,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw classifyTransportError(err, op);
    } finally {
      deadline.clear();
    }
    if (status !== 200) {
      // 5xx, and 4xx too: a 4xx may come from a proxy or gateway in front of tPay (a 408 or 499
      // after it forwarded the request, a WAF answering for an upstream that did act), so Pier
      // cannot know tPay did nothing. In doubt: settled by inquiry, never resent blindly.
      throw new ConnectorError('http_status', `tPay ${op}: HTTP ${status}`, true, false);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new ConnectorError('bad_response', `tPay ${op}: answer is not JSON`, true, false, { cause: err });
    }
  }

  /**
   * Any HTTP answer from tPay's host (even 404) proves it is reachable through the same pool the
   * payments use; only connect failures and silence count as down.
   */
  async ping(deadlineMs: number): Promise<void> {
    try {
      const res = await request(`${this.#base}/`, { method: 'GET', dispatcher: this.#agent, headersTimeout: deadlineMs, bodyTimeout: deadlineMs, signal: AbortSignal.timeout(deadlineMs) });
      await res.body.dump();
    } catch (err) {
      throw classifyTransportError(err, 'ping');
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
