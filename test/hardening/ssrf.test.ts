/**
 * Issue #10 item 5: webhook URLs (the merchant's, or a payment's notice_url that anyone can set
 * from a payment window) must not point production Pier at its own network. Checked on the
 * addresses DNS returns, redirects never followed, an explicit allow-list for operators, and no
 * internal address in any error Pier records.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PierError } from '../../src/api/errors.js';
import { setWebhookSettings } from '../../src/webhooks/settings.js';
import { DestinationGuard } from '../../src/webhooks/network-guard.js';
import { WebhookSender } from '../../src/webhooks/sender.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { buildApp } from '../../src/api/app.js';
import { createConsoleUser } from '../../src/core/console/users.js';
import { Agent } from '../console/console-harness.js';
import { addChannel } from '../../src/core/merchants/channels.js';

let internal: Server;
let internalHits = 0;
let internalUrl: string;
let redirector: Server;
let redirectorUrl: string;
const timeouts = { connectTimeoutMs: 500, readTimeoutMs: 1000 };

beforeAll(async () => {
  internal = createServer((req, res) => {
    internalHits++;
    req.resume();
    res.end('internal secret answer');
  });
  await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
  internalUrl = `http://127.0.0.1:${(internal.address() as { port: number }).port}/admin`;
  redirector = createServer((req, res) => {
    req.resume();
    res.writeHead(307, { location: internalUrl });
    res.end();
  });
  await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
  redirectorUrl = `http://localhost:${(redirector.address() as { port: number }).port}/hook`;
});
afterAll(async () => {
  await new Promise<void>((r) => internal.close(() => r()));
  await new Promise<void>((r) => redirector.close(() => r()));
});

describe('the production destination guard', () => {
  const guard = DestinationGuard.production();
  it.each([
    '127.0.0.1', '127.8.9.10', '0.0.0.0', '10.0.0.1', '172.16.5.4', '192.168.1.1', '100.64.0.1', '169.254.169.254',
    '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.1.2.3',
    // IPv4-compatible IPv6 (deprecated ::/96, inside IETF-reserved ::/8): `[::127.0.0.1]` is canonicalised to ::7f00:1
    '::7f00:1', '::a9fe:a9fe', '::a00:5', '::2', '100::1:2', '400::1',
  ])('refuses %s', (address) => {
    expect(guard.refusesAddress(address)).toBe(true);
  });
  it.each(['8.8.8.8', '203.0.114.1', '2606:4700:4700::1111'])('allows public %s', (address) => {
    expect(guard.refusesAddress(address)).toBe(false);
  });
  it('lets an operator allow internal receivers by CIDR, IP or host name', () => {
    const g = DestinationGuard.production('10.20.0.0/16, 192.168.7.7, hooks.internal');
    expect(g.refusesAddress('10.20.3.4')).toBe(false);
    expect(g.refusesAddress('10.21.3.4')).toBe(true);
    expect(g.refusesAddress('192.168.7.7')).toBe(false);
    expect(g.allowsHost('HOOKS.internal')).toBe(true);
    expect(() => DestinationGuard.production('not a cidr/99')).toThrow(/allowPrivate/);
  });
  it('sandbox refuses nothing', () => {
    expect(DestinationGuard.sandbox().refusesAddress('127.0.0.1')).toBe(false);
  });
});

describe('sending in production', () => {
  it('refuses a loopback IP literal without connecting, and says so without the address', async () => {
    const sender = new WebhookSender({ ...timeouts, guard: DestinationGuard.production() });
    try {
      const before = internalHits;
      const r = await sender.send(internalUrl, '{}', { 'content-type': 'application/json' });
      expect(r).toMatchObject({ ok: false, statusCode: null });
      expect(r.error).toMatch(/destination refused/);
      expect(r.error).not.toMatch(/127\.0\.0\.1|\d+\.\d+\.\d+\.\d+|:\d{2,5}/);
      expect(internalHits).toBe(before);
    } finally {
      await sender.close();
    }
  });

  it('refuses a host name that resolves to loopback (checked after DNS)', async () => {
    const sender = new WebhookSender({ ...timeouts, guard: DestinationGuard.production() });
    try {
      const before = internalHits;
      const r = await sender.send(internalUrl.replace('127.0.0.1', 'localhost'), '{}', {});
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/destination refused/);
      expect(internalHits).toBe(before);
    } finally {
      await sender.close();
    }
  });

  it('does not follow a redirect from an allowed receiver to an internal address', async () => {
    const sender = new WebhookSender({ ...timeouts, guard: DestinationGuard.production('localhost') });
    try {
      const before = internalHits;
      const r = await sender.send(redirectorUrl, '{}', {});
      expect(r).toMatchObject({ ok: false, statusCode: 307, error: 'HTTP 307' });
      expect(internalHits).toBe(before);
    } finally {
      await sender.close();
    }
  });

  it('refuses loopback and metadata spelled as IPv4-compatible IPv6 literals without connecting', async () => {
    const sender = new WebhookSender({ ...timeouts, guard: DestinationGuard.production() });
    try {
      for (const host of ['[::127.0.0.1]', '[::169.254.169.254]', '[0:0:0:0:0:0:10.0.0.5]']) {
        const r = await sender.send(internalUrl.replace('127.0.0.1', host), '{}', {});
        expect(r).toMatchObject({ ok: false, statusCode: null, durationMs: 0 });
        expect(r.error).toMatch(/^destination refused/);
      }
    } finally {
      await sender.close();
    }
  });

  it('delivers to an internal receiver the operator allowed', async () => {
    const sender = new WebhookSender({ ...timeouts, guard: DestinationGuard.production('127.0.0.0/8') });
    try {
      const before = internalHits;
      const r = await sender.send(internalUrl, '{}', {});
      expect(r).toMatchObject({ ok: true, statusCode: 200 });
      expect(internalHits).toBe(before + 1);
    } finally {
      await sender.close();
    }
  });
});

describe('errors name what happened, never where', () => {
  it('a refused connection is "connection refused" without the address and port', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const sender = new WebhookSender(timeouts);
    try {
      const r = await sender.send(`http://127.0.0.1:${port}/x`, '{}', {});
      expect(r.error).toBe('connection refused');
      const unknownHost = await sender.send('http://no-such-host.invalid/x', '{}', {});
      expect(unknownHost.error).toMatch(/^host not found/);
    } finally {
      await sender.close();
    }
  });
});

describe('setting a webhook URL in production', () => {
  let pier: TestPier;
  let m: TestMerchant;
  beforeAll(async () => {
    pier = await startTestPier();
    m = await pier.newMerchant();
  });
  afterAll(async () => {
    await pier.close();
  });

  it.each(['http://127.0.0.1:8080/hook', 'http://localhost/hook', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/x', 'http://10.0.0.5/x', 'http://[::127.0.0.1]:8080/hook', 'http://[::169.254.169.254]/latest/meta-data'])(
    'refuses %s at once with an invalid_parameter error',
    async (url) => {
      const production = { ...pier.deps, mode: 'production' as const };
      const err = await setWebhookSettings(production, m.merchantId, { url }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PierError);
      expect((err as PierError).kind).toBe('invalid_parameter');
      expect((err as PierError).message).toMatch(/public/);
    },
  );

  it("a payment's notice_url pointing inside is never called, retried or revealed", async () => {
    const production = { ...pier.deps, mode: 'production' as const };
    const queue = webhookQueue(production, { clock: pier.clock, timeouts });
    try {
      const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });
      const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'ssrf_notice_1', amount: 1000, card_number: card, expiry: '2030-12', notice_url: internalUrl } });
      expect(paid.body.response.status).toBe('paid');
      const before = internalHits;
      const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger });
      expect(await runner.runOnce()).toBe(1);
      expect(internalHits).toBe(before);
      const d = await pier.store.db.selectFrom('webhook_deliveries').select(['state', 'last_error']).where('url', '=', internalUrl).executeTakeFirstOrThrow();
      expect(d.last_error).toMatch(/^destination refused/);
      const log = await pier.call('GET', `/pier/webhooks/deliveries?imp_uid=${paid.body.response.imp_uid}`, { token: m.token });
      expect(JSON.stringify(log.body.response.list.map((x: { last_error: string }) => x.last_error))).not.toMatch(/127\.0\.0\.1/);
    } finally {
      await queue.close();
    }
  });

  it('sandbox keeps allowing localhost for development', async () => {
    const s = await setWebhookSettings(pier.deps, m.merchantId, { url: 'http://localhost:3000/hook' });
    expect(s.url).toBe('http://localhost:3000/hook');
  });
});

describe("a NICE channel's API address set from the console in production", () => {
  // The channel's base URL receives every charge with the channel's secretKey (HTTP Basic). A
  // console user is a merchant, not the operator: pointed at Pier's own network, Pier would call it.
  let pier: TestPier;
  let m: TestMerchant;
  let agent: Agent;
  let production: Awaited<ReturnType<typeof buildApp>>;
  const liveKey = { mid: 'R2_0123456789abcdef0123456789abcdef', merchant_key: 'fedcba9876543210fedcba9876543210' };
  beforeAll(async () => {
    pier = await startTestPier();
    m = await pier.newMerchant();
    const deps = { ...pier.deps, mode: 'production' as const };
    production = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl: 'https://pier.example' });
    await production.ready();
    await createConsoleUser(deps, m.merchantId, 'ops@ssrf.example', 'correct horse battery');
    agent = new Agent(production);
    expect((await agent.signIn('ops@ssrf.example', 'correct horse battery')).status).toBe(303);
  });
  afterAll(async () => {
    await production?.close();
    await pier?.close();
  });

  it('refuses an internal address on a new channel (API and form), so no charge ever goes there', async () => {
    const before = internalHits;
    const api = await agent.api('POST', '/console/api/channels', { provider: 'nice_v2', kind: 'api', ...liveKey, base_url: internalUrl, is_default: true });
    const form = await agent.post('/console/channels', { provider: 'nice_v2', kind: 'window', ...liveKey, base_url: internalUrl.replace('127.0.0.1', 'localhost'), is_default: 'on' });
    const token = (await production.inject({ method: 'POST', url: '/users/getToken', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ imp_key: m.impKey, imp_secret: m.impSecret }) })).json().response.access_token;
    const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '2718' }), expiry: '2030-12', birth: '820213' };
    const paid = await production.inject({ method: 'POST', url: '/subscribe/payments/onetime', headers: { 'content-type': 'application/json', authorization: token }, payload: JSON.stringify({ pg: 'nice_v2', merchant_uid: 'ssrf_base_1', amount: 1000, ...card }) });
    expect(internalHits).toBe(before);
    expect(paid.json().code).not.toBe(0);
    expect(api.status).toBe(400);
    expect(Object.keys(api.json.error.fields)).toEqual(['base_url']);
    expect(form.status).toBe(400);
    expect(await pier.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', m.merchantId).where('provider', '=', 'nice_v2').execute()).toEqual([]);
  });

  it("refuses pointing an existing channel elsewhere, keeps the operator's address, and lets it be cleared", async () => {
    const ch = await addChannel(pier.deps, m.merchantId, { provider: 'nice_v2', mid: liveKey.mid, merchantKey: liveKey.merchant_key, cancelPassword: '', kind: 'api', sandbox: false, baseUrl: 'https://nice-proxy.example' });
    const moved = await agent.api('PATCH', `/console/api/channels/${ch.id}`, { base_url: internalUrl });
    expect(moved.status).toBe(400);
    const form = await agent.post(`/console/channels/${ch.id}`, { provider: 'nice_v2', kind: 'api', mid: liveKey.mid, base_url: internalUrl, name: 'x' });
    expect(form.status).toBe(400);
    expect((await pier.store.db.selectFrom('pg_channels').select('base_url').where('id', '=', ch.id).executeTakeFirstOrThrow()).base_url).toBe('https://nice-proxy.example');
    // the operator's address may stay as it is while other settings change, or go back to NICE's own host
    const renamed = await agent.api('PATCH', `/console/api/channels/${ch.id}`, { name: 'NICE live' });
    expect(renamed.json.channel).toMatchObject({ name: 'NICE live', base_url: 'https://nice-proxy.example' });
    const cleared = await agent.api('PATCH', `/console/api/channels/${ch.id}`, { base_url: '' });
    expect(cleared.json.channel.base_url).toBeNull();
  });
});
