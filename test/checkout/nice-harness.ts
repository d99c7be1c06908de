/**
 * Pier (in-process, listening on loopback) with the NICEPAY simulator on its own port, sharing the
 * test clock, and a merchant with a NICE window channel of its own key pair (the simulator binds
 * it). The buyer's browser is played over plain HTTP: Pier's checkout hands over the SDK call, the
 * test posts its parameters to the simulator's window as `AUTHNICE.requestPay` does, submits the
 * window, and posts the result form back to Pier.
 */
import { randomBytes } from 'node:crypto';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { instrumentConnectors } from '../../src/connectors/instrumented.js';
import { addChannel } from '../../src/core/merchants/channels.js';
import { createNicepaySimulator, type NicepaySimulator } from '../../src/simulators/nicepay/index.js';
import { formOf, postForm } from '../buyer-forms.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';

export const ORIGIN = 'https://shop.example';

export interface NicePier {
  pier: TestPier;
  /** Pier's public (listening) address */
  pierUrl: string;
  sim: NicepaySimulator;
  simUrl: string;
  merchant: TestMerchant;
  /** the NICE window channel's key pair (V1 `pg: nice_v2.{clientId}`) */
  clientId: string;
  secretKey: string;
  channelId: string;
  pg: string;
  /** POST to a simulator endpoint (control or REST without auth) */
  simPost(path: string, body: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startNicePier(o: { readTimeoutMs?: number; slowResponseMs?: number; sqliteLockWaitMs?: number } = {}): Promise<NicePier> {
  const pier = await startTestPier({ listen: true, sqliteLockWaitMs: o.sqliteLockWaitMs });
  const sim = createNicepaySimulator({ dbFile: ':memory:', clock: pier.clock, slowResponseMs: o.slowResponseMs ?? 10_000 });
  const simUrl = await sim.listen({ host: '127.0.0.1', port: 0 });
  // the same Pier with NICE's sandbox host pointed at the simulator (the routes read deps.connectors per request)
  pier.deps.connectors = instrumentConnectors(
    createConnectorRegistry(
      {
        jtnet: { baseUrl: pier.simulatorUrl, connectTimeoutMs: 1000, readTimeoutMs: 2000 },
        nice_v2: { sandboxUrl: simUrl, sdkUrl: `${simUrl}/v1/js/`, connectTimeoutMs: 1000, readTimeoutMs: o.readTimeoutMs ?? 2000 },
      },
      { clock: pier.deps.clock },
    ),
    { metrics: pier.deps.metrics, logger: pier.deps.logger },
  );
  const merchant = await pier.newMerchant();
  const clientId = `S2_${randomBytes(16).toString('hex')}`;
  const secretKey = randomBytes(16).toString('hex');
  const simPost = async (path: string, body: unknown) => {
    const res = await fetch(`${simUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as any };
  };
  // the simulator signs window results with the clientId's secret: bind the pair before a window opens
  const bound = await simPost('/__control/keys', { clientId, secretKey });
  if (bound.status !== 200) throw new Error(`binding the NICE key pair failed: ${JSON.stringify(bound.body)}`);
  const channel = await addChannel(pier.deps, merchant.merchantId, { provider: 'nice_v2', mid: clientId, merchantKey: secretKey, cancelPassword: '', kind: 'window', sandbox: true, name: 'NICE window' });
  return {
    pier,
    pierUrl: pier.pierUrl!,
    sim,
    simUrl,
    merchant,
    clientId,
    secretKey,
    channelId: channel.id,
    pg: `nice_v2.${clientId}`,
    simPost,
    async close() {
      await sim.close();
      await pier.close();
    },
  };
}

/** The SDK hand-over page Pier's checkout answers for a NICE window: its CSP and the call's parameters. */
export interface SdkHandOver {
  csp: string;
  call: string;
  params: Record<string, string | number | boolean>;
  html: string;
}

/** request_pay → Pier's checkout → "pay" pressed: the page that loads NICE's SDK. */
export async function openNiceWindow(n: NicePier, params: Record<string, unknown>, choice: Record<string, string> = { card_code: '366' }): Promise<{ sessionId: string; handOver: SdkHandOver }> {
  const s = await n.pier.call('POST', '/checkout/sessions', { body: { imp_code: n.merchant.merchantCode, params: { pg: n.pg, ...params }, mode: 'overlay', origin: ORIGIN } });
  if (!s.body?.ok) throw new Error(`session refused: ${JSON.stringify(s.body)}`);
  const sessionId = s.body.session_id as string;
  const res = await fetch(`${n.pierUrl}/checkout/${sessionId}/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ agree: '1', ...(params.pay_method === 'card' || params.pay_method === undefined ? choice : {}) }).toString(),
  });
  const html = await res.text();
  const data = /<script type="application\/json" id="pier-data">(.*?)<\/script>/s.exec(html);
  if (!data) throw new Error(`no SDK hand-over page:\n${html.slice(0, 1500)}`);
  const parsed = JSON.parse(data[1]!) as { page: string; call: string; params: SdkHandOver['params'] };
  if (parsed.page !== 'to-pg-script') throw new Error(`not an SDK hand-over: ${parsed.page}\n${html.slice(0, 1500)}`);
  return { sessionId, handOver: { csp: res.headers.get('content-security-policy') ?? '', call: parsed.call, params: parsed.params, html } };
}

/** What `AUTHNICE.requestPay` does with the parameters: the simulator's window page, posted as a form. */
export async function niceWindowPage(n: NicePier, params: SdkHandOver['params']): Promise<{ token: string; html: string }> {
  const fields = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
  const page = await postForm(`${n.simUrl}/v1/pay`, fields);
  const token = /action="\/v1\/pay\/([0-9a-f]+)\/submit"/.exec(page.html)?.[1];
  if (!token) throw new Error(`no NICE window page:\n${page.html.slice(0, 1500)}`);
  return { token, html: page.html };
}

/** The buyer pays (or cancels) in NICE's window: the fields NICE's page posts to Pier's returnUrl. */
export async function submitNiceWindow(n: NicePier, token: string, input: Record<string, string> | 'cancel'): Promise<{ action: string; fields: Record<string, string> }> {
  const res = input === 'cancel' ? await postForm(`${n.simUrl}/v1/pay/${token}/cancel`, {}) : await postForm(`${n.simUrl}/v1/pay/${token}/submit`, input);
  return formOf(res.html, 'result');
}

/** The whole buyer side up to the auth result NICE's window posts back (not yet posted). */
export async function authenticateAtNice(n: NicePier, params: Record<string, unknown>, input: Record<string, string> | 'cancel') {
  const { sessionId, handOver } = await openNiceWindow(n, params);
  const { token } = await niceWindowPage(n, handOver.params);
  const result = await submitNiceWindow(n, token, input);
  return { sessionId, handOver, result };
}
