/**
 * Test harness for the NICEPAY simulator: a simulator on a random port with a manual clock, REST
 * calls over real HTTP with Basic auth, the spec's signature formulas recomputed independently
 * (the connector is someone else's), and the window driven over plain HTTP form posts.
 */
import { createHash, createCipheriv } from 'node:crypto';
import { ManualClock } from '../../src/lib/clock.js';
import { createNicepaySimulator, testCardNumber, type NicepaySimulator, type NicepaySimulatorOptions } from '../../src/simulators/nicepay/index.js';

/** A 신한 (366) test card whose last four digits pick the outcome (docs/simulator-nicepay.md). */
export const card = (lastFour: string, kftcCode = '366') => testCardNumber({ kftcCode, lastFour });

/** The published sandbox pair of spec §0.3 / §9. */
export const KEY = { clientId: 'S2_af4543a0be4d49a98122e01ec2059a56', secretKey: '9eb85607103646da9f9c02b128f2e5ee' };

export const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** spec §10: payment-object signature. */
export const expectedSignature = (tid: string, amount: number, ediDate: string, secretKey = KEY.secretKey) => sha256(`${tid}${amount}${ediDate}${secretKey}`);

export const EDI_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0900$/;

export interface Sim {
  sim: NicepaySimulator;
  base: string;
  clock: ManualClock;
  close(): Promise<void>;
}

export async function startSim(opts: NicepaySimulatorOptions = {}): Promise<Sim> {
  const clock = new ManualClock(Date.UTC(2026, 0, 15, 3, 0, 0)); // 2026-01-15 12:00 KST
  const sim = createNicepaySimulator({ clock, slowResponseMs: 30_000, ...opts });
  const base = await sim.listen({ host: '127.0.0.1', port: 0 });
  return { sim, base, clock, close: () => sim.close() };
}

export const basic = (clientId = KEY.clientId, secretKey = KEY.secretKey) => `Basic ${Buffer.from(`${clientId}:${secretKey}`).toString('base64')}`;

export interface CallResult {
  status: number;
  body: any;
  text: string;
}

/** A REST call: JSON body, Basic auth with the sandbox key unless told otherwise. */
export async function call(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  body?: Record<string, unknown>,
  o: { auth?: string | null; signal?: AbortSignal } = {},
): Promise<CallResult> {
  const headers: Record<string, string> = {};
  const auth = o.auth === undefined ? basic() : o.auth;
  if (auth) headers.authorization = auth;
  if (body) headers['content-type'] = 'application/json;charset=utf-8';
  const res = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined, signal: o.signal });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: res.status, body: parsed, text };
}

let seq = 0;
export const orderId = (prefix = 'ord') => `${prefix}-${Date.now().toString(36)}-${++seq}`;

/** The hidden fields of a page's `<form id="result">`. */
export function resultFields(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form id="result" method="POST" action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no result form in page: ${html.slice(0, 500)}`);
  const unesc = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const fields: Record<string, string> = {};
  for (const m of form[2]!.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields[unesc(m[1]!)] = unesc(m[2]!);
  return { action: unesc(form[1]!), fields };
}

async function postForm(url: string, fields: Record<string, string>): Promise<{ status: number; html: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  return { status: res.status, html: await res.text() };
}

/** Opens the window as the SDK would (form POST of the requestPay params); returns the page and its session token. */
export async function openWindow(base: string, params: Record<string, string>): Promise<{ status: number; html: string; token: string | null }> {
  const page = await postForm(`${base}/v1/pay`, params);
  const token = /action="\/v1\/pay\/([0-9a-f]+)\/submit"/.exec(page.html)?.[1] ?? null;
  return { ...page, token };
}

export const windowParams = (o: Record<string, string> = {}) => ({
  clientId: KEY.clientId,
  method: 'card',
  orderId: orderId(),
  amount: '1004',
  goodsName: '나이스페이-상품',
  returnUrl: 'http://127.0.0.1:9/return',
  ...o,
});

/**
 * Authenticates a payment through the window over HTTP (no browser): open, submit the buyer's input,
 * and return the §1.4 fields the window would post to returnUrl.
 */
export async function authenticate(base: string, params: Record<string, string> = {}, input: Record<string, string> = {}) {
  const p = windowParams(params);
  const opened = await openWindow(base, p);
  if (!opened.token) throw new Error(`window did not open: ${opened.html.slice(0, 300)}`);
  const defaults: Record<string, Record<string, string>> = {
    card: { cardNo: card('4242'), cardExpiry: '12/30', cardQuota: '0' },
    bank: { bankCode: '004' },
    vbank: { vbankCode: '088' },
    cellphone: { carrier: 'SKT', phone: '01012345678' },
  };
  const submitted = await postForm(`${base}/v1/pay/${opened.token}/submit`, { ...defaults[p.method]!, ...input });
  return { params: p, ...resultFields(submitted.html), html: submitted.html };
}

/** AES encData of spec §3.1: `A2` = AES-256-CBC (key = secret, IV = its first 16 chars); `ECB` = AES-128-ECB. */
export function encData(plain: string, secretKey = KEY.secretKey, mode: 'A2' | 'ECB' | 'CBC128' = 'A2'): string {
  const key16 = Buffer.from(secretKey.slice(0, 16));
  const c =
    mode === 'A2'
      ? createCipheriv('aes-256-cbc', Buffer.from(secretKey), key16)
      : mode === 'ECB'
        ? createCipheriv('aes-128-ecb', key16, null)
        : createCipheriv('aes-128-cbc', key16, key16);
  return Buffer.concat([c.update(plain, 'utf8'), c.final()]).toString('hex');
}

/** A tiny receiver for returnUrl posts and webhooks: records requests, answers what `answer` says. */
export async function startReceiver(answer: (n: number) => { status: number; body: string } = () => ({ status: 200, body: 'OK' })) {
  const { createServer } = await import('node:http');
  const received: Array<{ path: string; contentType: string; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body });
      const a = answer(received.length);
      res.writeHead(a.status, { 'content-type': 'text/html' }).end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Polls until `check` returns a value (no fixed sleeps). */
export async function until<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}
