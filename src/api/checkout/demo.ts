/**
 * The demo shop at /demo (sandbox only): a merchant page that loads Pier's SDK, and the merchant's own
 * backend routes under /demo/api that do what V1 recommends (spec/api-v1.md §15.1): register the
 * amount (POST /payments/prepare) before the window opens, then verify the result server-side
 * (GET /payments/{imp_uid}) and compare the amount with the order. The backend talks to Pier's REST
 * API over HTTP with the demo merchant's key, exactly as a real merchant server would.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Deps } from '../../core/deps.js';
import type { PgSimulatorTools } from '../../lib/simulator-tools.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../core/merchants/merchants.js';
import { esc } from './pages.js';
import { ROOT } from './sdk-bundle.js';

export const DEMO_PRODUCTS = [
  { id: 'mug', name: 'Pier 머그컵', name_en: 'Pier mug', amount: 12_000 },
  { id: 'bag', name: '여행용 가방', name_en: 'Travel bag', amount: 89_000 },
  { id: 'sub', name: '월간 원두 구독', name_en: 'Monthly coffee beans', amount: 19_900, subscription: true },
] as const;

interface Order {
  merchantUid: string;
  productId: string;
  amount: number;
  name: string;
  customerUid: string | null;
  createdAt: number;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  'demo.css': { file: 'web/demo/demo.css', type: 'text/css; charset=utf-8' },
  'demo.js': { file: 'web/demo/demo.js', type: 'text/javascript; charset=utf-8' },
};

export async function registerDemo(app: FastifyInstance, opts: { deps: Deps; publicUrl: string; simulatorTools?: readonly PgSimulatorTools[] }) {
  const { deps, publicUrl } = opts;
  const tools = opts.simulatorTools ?? [];
  if (deps.mode !== 'sandbox') return;
  const page = readFileSync(join(ROOT, 'web/demo/index.html'), 'utf8');
  const assets = new Map(Object.entries(ASSETS).map(([name, a]) => [name, { body: readFileSync(join(ROOT, a.file), 'utf8'), type: a.type }]));
  const orders = new Map<string, Order>();

  async function demoMerchantCode(): Promise<string | null> {
    const row = await deps.store.db
      .selectFrom('api_keys')
      .innerJoin('merchants', 'merchants.id', 'api_keys.merchant_id')
      .select('merchants.merchant_code')
      .where('api_keys.imp_key', '=', DEMO_IMP_KEY)
      .where('api_keys.revoked_at', 'is', null)
      .executeTakeFirst();
    return row?.merchant_code ?? null;
  }

  /** Pier's own listening address when known (publicUrl may be a name only the outside resolves), else publicUrl. */
  function apiBase(): string {
    const a = app.server.address();
    if (!a || typeof a === 'string') return publicUrl;
    const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  // ---- the merchant's backend: Pier's REST API over HTTP, like any merchant server ----
  async function rest(method: string, path: string, body?: unknown, token?: string): Promise<{ code: number; message: string | null; response: any }> {
    const res = await fetch(`${apiBase()}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as { code: number; message: string | null; response: any };
  }
  async function token(): Promise<string> {
    const r = await rest('POST', '/users/getToken', { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET });
    if (r.code !== 0) throw new Error(`getToken failed: ${r.message}`);
    return r.response.access_token as string;
  }

  app.get('/demo', async (_req, reply) => {
    const code = await demoMerchantCode();
    const body = page
      .replace('{{MERCHANT_CODE}}', esc(code ?? ''))
      .replace('{{PRODUCTS}}', esc(JSON.stringify(DEMO_PRODUCTS)))
      .replace('{{NO_MERCHANT}}', code ? '' : '<p class="warn" role="alert">데모 가맹점(imp_apikey)이 없습니다. sandbox 모드로 새 데이터 폴더에서 시작하세요.</p>');
    return sendHtml(reply, body);
  });
  app.get('/demo/complete', async (_req, reply) => sendHtml(reply, page.replace('{{MERCHANT_CODE}}', esc((await demoMerchantCode()) ?? '')).replace('{{PRODUCTS}}', esc(JSON.stringify(DEMO_PRODUCTS))).replace('{{NO_MERCHANT}}', '')));
  app.get('/demo/assets/:name', async (req, reply) => {
    const a = assets.get((req.params as { name: string }).name);
    if (!a) return reply.status(404).type('text/plain').send('not found');
    return reply.type(a.type).header('cache-control', 'no-cache').send(a.body);
  });

  /** Creates an order and registers its amount with Pier (POST /payments/prepare). */
  app.post('/demo/api/orders', async (req, reply) => {
    const b = (req.body ?? {}) as { product_id?: string; billing?: boolean; register_only?: boolean };
    const product = DEMO_PRODUCTS.find((p) => p.id === b.product_id);
    if (!product) return reply.status(400).send({ error: 'unknown product' });
    const merchantUid = `demo_${Date.now()}_${randomBytes(3).toString('hex')}`;
    const amount = b.register_only ? 0 : product.amount;
    const customerUid = b.billing || b.register_only ? `demo_customer_${randomBytes(4).toString('hex')}` : null;
    const order: Order = { merchantUid, productId: product.id, amount, name: product.name, customerUid, createdAt: Date.now() };
    orders.set(merchantUid, order);
    if (orders.size > 1000) orders.delete(orders.keys().next().value!);
    if (amount > 0) {
      const prepared = await rest('POST', '/payments/prepare', { merchant_uid: merchantUid, amount }, await token());
      if (prepared.code !== 0) return reply.status(502).send({ error: prepared.message });
    }
    return { merchant_uid: merchantUid, amount, name: product.name, customer_uid: customerUid, prepared: amount > 0 };
  });

  /**
   * Sandbox only: the buyer's bank transfer into an issued virtual account, through the simulator's
   * control endpoint. The simulator then notifies Pier, which marks the payment paid.
   */
  app.post('/demo/api/deposit', async (req, reply) => {
    const b = (req.body ?? {}) as { imp_uid?: string };
    if (typeof b.imp_uid !== 'string') return reply.status(400).send({ error: 'imp_uid is required' });
    const r = await rest('GET', `/payments/${encodeURIComponent(b.imp_uid)}`, undefined, await token());
    if (r.code !== 0 || r.response.pay_method !== 'vbank') return reply.status(400).send({ error: r.message ?? 'not a virtual account' });
    // the simulator of the account's PG (its `deposit` tool, lib/simulator-tools.ts)
    const sim = tools.find((t) => t.provider === r.response.pg_provider);
    if (!sim?.deposit) return reply.status(501).send({ error: `no simulator takes deposits for ${String(r.response.pg_provider)} in this Pier` });
    const answer = await sim.deposit({ moid: r.response.imp_uid, mid: r.response.pg_id, tid: r.response.pg_tid ?? null, amount: r.response.amount, depositorName: r.response.buyer_name ?? '구매자' });
    return reply.status(answer.status).send(answer.body);
  });

  /** The server-side check V1 recommends: look the payment up and compare it with the order. */
  app.post('/demo/api/verify', async (req, reply) => {
    const b = (req.body ?? {}) as { imp_uid?: string; merchant_uid?: string };
    if (!b.imp_uid || typeof b.imp_uid !== 'string') return reply.status(400).send({ verified: false, message: 'imp_uid is required' });
    const r = await rest('GET', `/payments/${encodeURIComponent(b.imp_uid)}`, undefined, await token());
    if (r.code !== 0) return { verified: false, message: r.message };
    const p = r.response;
    const order = orders.get(p.merchant_uid);
    const checks = {
      order_found: !!order,
      merchant_uid_matches: !b.merchant_uid || b.merchant_uid === p.merchant_uid,
      amount_matches: !!order && Number(p.amount) === order.amount,
    };
    const verified = checks.order_found && checks.merchant_uid_matches && checks.amount_matches;
    let outcome: string;
    if (!verified) outcome = 'forgery';
    else if (p.status === 'paid') outcome = order!.customerUid && order!.amount === 0 ? 'card_registered' : 'paid';
    else if (p.status === 'ready' && p.pay_method === 'vbank') outcome = 'vbank_issued';
    else outcome = p.status;
    return {
      verified,
      outcome,
      checks,
      order: order ? { merchant_uid: order.merchantUid, amount: order.amount, name: order.name } : null,
      payment: {
        imp_uid: p.imp_uid,
        merchant_uid: p.merchant_uid,
        status: p.status,
        amount: p.amount,
        pay_method: p.pay_method,
        channel: p.channel,
        pg_provider: p.pg_provider,
        pg_id: p.pg_id,
        card_name: p.card_name,
        card_number: p.card_number,
        card_quota: p.card_quota,
        bank_name: p.bank_name,
        vbank_name: p.vbank_name,
        vbank_num: p.vbank_num,
        vbank_date: p.vbank_date,
        customer_uid: p.customer_uid,
        fail_reason: p.fail_reason,
      },
    };
  });
}

function sendHtml(reply: FastifyReply, body: string) {
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}
