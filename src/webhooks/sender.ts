import { Agent, request } from 'undici';

/** What one HTTP attempt came to. `ok` is any 2xx; redirects are not followed. */
export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** the start of the receiver's answer, for the delivery log */
  excerpt: string | null;
}

export interface SenderOptions {
  /** V1: connect 10 s */
  connectTimeoutMs: number;
  /** V1: read 30 s */
  readTimeoutMs: number;
}

export const V1_WEBHOOK_TIMEOUTS: SenderOptions = { connectTimeoutMs: 10_000, readTimeoutMs: 30_000 };

const EXCERPT_BYTES = 300;

/**
 * POSTs webhook bodies with V1's timeouts (connect 10 s, read 30 s by default). Never throws:
 * network errors and timeouts come back as a result with `error` set.
 */
export class WebhookSender {
  private readonly agent: Agent;

  constructor(private readonly opts: SenderOptions = V1_WEBHOOK_TIMEOUTS) {
    this.agent = new Agent({
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.readTimeoutMs,
      bodyTimeout: opts.readTimeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  async send(url: string, payload: string, headers: Record<string, string>): Promise<SendResult> {
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    let target: URL;
    try {
      target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('only http and https URLs');
    } catch (err) {
      return { ok: false, statusCode: null, error: `invalid URL: ${(err as Error).message}`, durationMs: 0, excerpt: null };
    }
    try {
      const res = await request(target, {
        method: 'POST',
        headers: { 'user-agent': 'Pier-Webhook/1.0', ...headers },
        body: payload,
        dispatcher: this.agent,
        headersTimeout: this.opts.readTimeoutMs,
        bodyTimeout: this.opts.readTimeoutMs,
      });
      let excerpt = '';
      for await (const chunk of res.body) {
        if (excerpt.length < EXCERPT_BYTES) excerpt += Buffer.from(chunk as Uint8Array).toString('utf8');
      }
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      return { ok, statusCode: res.statusCode, error: ok ? null : `HTTP ${res.statusCode}`, durationMs: took(), excerpt: excerpt.slice(0, EXCERPT_BYTES) || null };
    } catch (err) {
      return { ok: false, statusCode: null, error: describe(err), durationMs: took(), excerpt: null };
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const what: Record<string, string> = {
    UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
    UND_ERR_HEADERS_TIMEOUT: 'read timeout (no response headers)',
    UND_ERR_BODY_TIMEOUT: 'read timeout (response body)',
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
  };
  const text = (code && what[code]) || e.message || String(err);
  return `${text}${code && !what[code] ? ` (${code})` : ''}`.slice(0, 500);
}
