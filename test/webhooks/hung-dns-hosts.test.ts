/**
 * Webhook receivers on several different host names whose DNS never answers (decision 0125), as
 * an attacker would set them: a zone whose nameserver drops every query (a lame delegation costs
 * nothing), and one `notice_url` per payment on a different name in it. Real queue and sender,
 * real HTTP to a node:http receiver on loopback, and a real DNS server on 127.0.0.1 that answers
 * the healthy receiver's name and swallows the attacker's.
 *
 * The system's resolver (getaddrinfo) is modelled as it behaves against that server: it asks the
 * same DNS server and gives up only after resolv.conf's timeout × attempts (5 s × 2), holding its
 * lookup slot all along. Before, every webhook lookup went through it: two of the attacker's
 * names held webhooks' whole share of libuv's thread pool (2 of 4) and another merchant's lookup
 * of a working host waited behind them until its attempt's deadline.
 */
import { createServer, type Server } from 'node:http';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { dnsFirstHostLookup } from '../../src/webhooks/host-lookup.js';
import { DestinationGuard } from '../../src/webhooks/network-guard.js';
import { WebhookSender } from '../../src/webhooks/sender.js';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';

let pier: TestPier;
let dns: TestDnsServer;
let receiver: Server;
let port: number;
let hits = 0;
const card = testCardNumber({ kftcCode: '366', lastFour: '3142' });
const DEADLINE_MS = 3_000;
const CONNECT_TIMEOUT_MS = 1_000;
const HEALTHY = 'hooks.healthy-shop.test';

/** getaddrinfo against the test's DNS server: resolv.conf's defaults, 5 s a try, 2 tries */
const systemLookups: Resolver[] = [];
function systemResolver(host: string, _opts: object, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) {
  const resolver = new Resolver({ timeout: 5_000, tries: 2 });
  resolver.setServers([dns.address]);
  systemLookups.push(resolver);
  resolver.resolve4(host).then(
    (addresses) => cb(null, addresses.map((address) => ({ address, family: 4 }))),
    (err: NodeJS.ErrnoException) => cb(Object.assign(new Error('getaddrinfo failed'), { code: err.code === 'ENOTFOUND' ? 'ENOTFOUND' : 'EAI_AGAIN' }), []),
  );
}

beforeAll(async () => {
  pier = await startTestPier();
  dns = await startDnsServer({ answers: { [HEALTHY]: '127.0.0.1', 'hooks.rebinding.test': '127.0.0.1' }, swallow: 'black-hole.test' });
  receiver = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  port = (receiver.address() as { port: number }).port;
});
afterAll(async () => {
  // the modelled getaddrinfo calls still running give up now, and free their slots
  for (const resolver of systemLookups) resolver.cancel();
  await new Promise<void>((r) => receiver.close(() => r()));
  await dns?.close();
  await pier?.close();
});

const deliveryOf = (impUid: string) =>
  pier.store.db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhook_events as e', 'e.id', 'd.event_id')
    .select(['d.id', 'd.state', 'd.attempts', 'd.last_status_code', 'd.last_error'])
    .where('e.imp_uid', '=', impUid)
    .executeTakeFirstOrThrow();

const attemptsOf = (deliveryId: string) =>
  pier.store.db.selectFrom('webhook_attempts').select(['status_code', 'error', 'duration_ms']).where('delivery_id', '=', deliveryId).orderBy('attempt').execute();

/** a paid payment of a new merchant for each URL, whose webhook goes to that URL (its notice_url) */
async function payEach(prefix: string, urls: string[]) {
  const m = await pier.newMerchant();
  const impUids: string[] = [];
  for (const [i, url] of urls.entries()) {
    const res = await pier.call('POST', '/subscribe/payments/onetime', {
      token: m.token,
      body: { merchant_uid: `${prefix}_${i}`, amount: 1000, card_number: card, expiry: '2030-12', notice_url: url },
    });
    expect(res.body.response?.status, JSON.stringify(res.body)).toBe('paid');
    impUids.push(res.body.response.imp_uid);
  }
  return impUids;
}

describe('webhook receivers on several host names whose DNS never answers', () => {
  it("hold no lookup another merchant's receiver needs: its webhooks are delivered at once, theirs end at the connect timeout", { timeout: 30_000 }, async () => {
    const queue = webhookQueue(pier.deps, {
      clock: pier.clock,
      timeouts: { connectTimeoutMs: CONNECT_TIMEOUT_MS, readTimeoutMs: 20_000, deadlineMs: DEADLINE_MS, resolveHost: systemResolver, nameservers: [dns.address] },
    });
    const runner = new JobRunner({ queues: [queue], logger: pier.deps.logger, idleMs: 20 });
    try {
      // the attacker: four payments, each notifying a different name in the black-hole zone
      const blackHoles = ['a', 'b', 'c', 'd'].map((l) => `${l}.black-hole.test`);
      const attackerImpUids = await payEach('hung_dns', blackHoles.map((h) => `http://${h}:${port}/hook`));
      runner.start();
      // their lookups reached DNS, which answers none of them
      await vi.waitUntil(
        async () => new Set(dns.asked.filter((n) => blackHoles.includes(n))).size >= 2 && (await Promise.all(attackerImpUids.map(deliveryOf))).every((d) => d.state === 'sending'),
        { timeout: 5_000, interval: 10 },
      );

      // another merchant, whose receiver's name resolves at once
      const hitsBefore = hits;
      const otherImpUids = await payEach('healthy_dns', [`http://${HEALTHY}:${port}/hook`, `http://${HEALTHY}:${port}/hook`]);
      const others = await vi.waitUntil(
        async () => {
          const ds = await Promise.all(otherImpUids.map(deliveryOf));
          return ds.every((d) => d.attempts === 1 && d.state !== 'sending') ? ds : false;
        },
        { timeout: DEADLINE_MS + 10_000, interval: 20 },
      );
      // before: both ended `connect timeout` (undici's counts the lookup), waiting for a lookup slot
      expect(others.map((d) => [d.state, d.last_status_code, d.last_error])).toEqual([
        ['delivered', 200, null],
        ['delivered', 200, null],
      ]);
      for (const d of others) {
        const [attempt] = await attemptsOf(d.id);
        expect(attempt.status_code).toBe(200);
        expect(attempt.duration_ms).toBeLessThan(DEADLINE_MS / 2);
      }
      expect(hits - hitsBefore).toBe(2);

      // the attacker's attempts end at the connect timeout (which covers the lookup, as V1's 10 s
      // does in production), recorded and retried later, no request made
      const attacker = await vi.waitUntil(
        async () => {
          const ds = await Promise.all(attackerImpUids.map(deliveryOf));
          return ds.every((d) => d.attempts === 1 && d.state !== 'sending') ? ds : false;
        },
        { timeout: DEADLINE_MS + 10_000, interval: 20 },
      );
      expect(attacker.map((d) => [d.state, d.last_status_code, d.last_error])).toEqual(Array(4).fill(['pending', null, 'connect timeout']));
      for (const d of attacker) {
        const [attempt] = await attemptsOf(d.id);
        expect(attempt.duration_ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
        expect(attempt.duration_ms).toBeLessThan(DEADLINE_MS);
      }
      // every name of the attacker's was asked of DNS: none waited for another's lookup to end
      expect(new Set(dns.asked.filter((n) => blackHoles.includes(n)))).toEqual(new Set(blackHoles));
      expect(hits - hitsBefore).toBe(2);
    } finally {
      await runner.stop(0);
      await queue.close();
    }
  });
});

describe('addresses a webhook host name resolves to by DNS', () => {
  it('are checked by the network guard in production: a public-looking name that resolves to loopback is refused, and allowed once the operator allows that range', async () => {
    const refusing = new WebhookSender({ connectTimeoutMs: 1_000, readTimeoutMs: 2_000, deadlineMs: DEADLINE_MS, guard: DestinationGuard.production(), resolveHost: systemResolver, nameservers: [dns.address] });
    const allowing = new WebhookSender({ connectTimeoutMs: 1_000, readTimeoutMs: 2_000, deadlineMs: DEADLINE_MS, guard: DestinationGuard.production('127.0.0.0/8'), resolveHost: systemResolver, nameservers: [dns.address] });
    try {
      const before = hits;
      const refused = await refusing.send(`http://hooks.rebinding.test:${port}/hook`, '{}', {});
      expect(refused).toMatchObject({ ok: false, statusCode: null, error: 'destination refused: not a public address (see webhooks.allowPrivate)' });
      expect(hits).toBe(before);
      const allowed = await allowing.send(`http://hooks.rebinding.test:${port}/hook`, '{}', {});
      expect(allowed).toMatchObject({ ok: true, statusCode: 200, error: null, excerpt: 'ok' });
      expect(hits).toBe(before + 1);
      expect(dns.asked).toContain('hooks.rebinding.test');
    } finally {
      await refusing.close();
      await allowing.close();
    }
  });
});

describe('names only the system resolver knows', () => {
  /** a system lookup that answers every name with 127.0.0.1 and keeps the names it was asked */
  function recordingSystemLookup() {
    const asked: string[] = [];
    const lookup = (host: string, _opts: object, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => {
      asked.push(host);
      setImmediate(() => cb(null, [{ address: '127.0.0.1', family: 4 }]));
    };
    return { asked, lookup };
  }
  const resolve = (lookup: ReturnType<typeof dnsFirstHostLookup>, host: string) =>
    new Promise<{ err: NodeJS.ErrnoException | null; addresses: LookupAddress[] }>((r) => lookup(host, { all: true }, (err, addresses) => r({ err, addresses })));

  it('go to the system lookup: a hosts-file name and localhost without asking DNS, a name DNS does not know after it said so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pier-hosts-'));
    const hostsFile = join(dir, 'hosts');
    await writeFile(hostsFile, '# the operator\'s overrides\n10.20.0.7  Hooks.Partner.test  partner-alias  # proxy\n::1 ip6-localhost\n');
    const system = recordingSystemLookup();
    const lookup = dnsFirstHostLookup({ timeoutMs: DEADLINE_MS, systemLookup: system.lookup, nameservers: [dns.address], hostsFile });
    try {
      const askedBefore = dns.asked.length;
      // listed in the hosts file (even though DNS might know it): the system lookup, as `hosts: files dns` says
      expect(await resolve(lookup, 'hooks.partner.test')).toEqual({ err: null, addresses: [{ address: '127.0.0.1', family: 4 }] });
      expect(await resolve(lookup, 'partner-alias')).toMatchObject({ err: null });
      expect(await resolve(lookup, 'localhost')).toMatchObject({ err: null });
      expect(dns.asked.length).toBe(askedBefore);
      expect(system.asked).toEqual(['hooks.partner.test', 'partner-alias', 'localhost']);
      // DNS answers "no such name" (a short name the search domains complete, an mDNS name): then the system lookup
      expect(await resolve(lookup, 'receiver.payments')).toMatchObject({ err: null, addresses: [{ address: '127.0.0.1', family: 4 }] });
      expect(dns.asked.slice(askedBefore)).toEqual(['receiver.payments', 'receiver.payments']);
      expect(system.asked.at(-1)).toBe('receiver.payments');
      // DNS knows it: DNS's answer, the system lookup not asked
      expect(await resolve(lookup, HEALTHY)).toEqual({ err: null, addresses: [{ address: '127.0.0.1', family: 4 }] });
      // DNS never answers: a timeout at the deadline, never the system lookup (which would hold a thread)
      const started = performance.now();
      const hung = await resolve(dnsFirstHostLookup({ timeoutMs: 300, systemLookup: system.lookup, nameservers: [dns.address], hostsFile }), 'e.black-hole.test');
      expect(hung.err?.code).toBe('PIER_LOOKUP_TIMEOUT');
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(system.asked).toEqual(['hooks.partner.test', 'partner-alias', 'localhost', 'receiver.payments']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
