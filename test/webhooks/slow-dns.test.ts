/**
 * A webhook receiver whose host name resolves slowly (a resolver that stops answering, a
 * nameserver of the merchant's that drops queries). A lookup is getaddrinfo on one of libuv's few
 * threads (4 by default), shared with every other lookup of the process (PostgreSQL connections,
 * PG calls) and with password hashing: an attempt must end at its deadline whatever its lookup
 * does, and webhook lookups must never hold every thread. The resolver is injected (`resolveHost`):
 * its lookups answer only when the test says so.
 */
import { createServer, type Server } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationGuard } from '../../src/webhooks/network-guard.js';
import { WEBHOOK_LOOKUP_THREADS } from '../../src/webhooks/host-lookup.js';
import { WebhookSender } from '../../src/webhooks/sender.js';

let receiver: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    hits++;
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  port = (receiver.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((r) => receiver.close(() => r()));
});

/**
 * A resolver that stops answering until `releaseAll` (from then on it answers at once); counts the
 * lookups it is working on.
 */
function stuckResolver() {
  const pending: Array<() => void> = [];
  let back = false;
  let inFlight = 0;
  let most = 0;
  const resolveHost = (_host: string, _opts: object, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => {
    inFlight++;
    most = Math.max(most, inFlight);
    const answer = () => {
      inFlight--;
      cb(null, [{ address: '127.0.0.1', family: 4 }]);
    };
    if (back) setImmediate(answer);
    else pending.push(answer);
  };
  return {
    resolveHost,
    most: () => most,
    inFlight: () => inFlight,
    releaseAll() {
      back = true;
      for (const release of pending.splice(0)) release();
    },
  };
}

describe('a webhook attempt whose host name does not resolve in time', () => {
  it('ends at its deadline (the deadline covers the lookup), and says the lookup timed out', { timeout: 10_000 }, async () => {
    const dns = stuckResolver();
    // a connect timeout far past the deadline: only the deadline can end this attempt
    const sender = new WebhookSender({ connectTimeoutMs: 60_000, readTimeoutMs: 60_000, deadlineMs: 300, guard: DestinationGuard.sandbox(), resolveHost: dns.resolveHost });
    try {
      const before = hits;
      const r = await sender.send(`http://slow-dns.example:${port}/hook`, '{}', { 'content-type': 'application/json' });
      expect(r).toMatchObject({ ok: false, statusCode: null });
      expect(r.error).toMatch(/deadline exceeded|host lookup timed out/);
      expect(r.durationMs).toBeGreaterThanOrEqual(250);
      expect(r.durationMs).toBeLessThan(3000);
      expect(hits).toBe(before);
    } finally {
      dns.releaseAll();
      await sender.close();
    }
  });

  it('many such attempts hold at most a share of the lookup threads; each ends by its deadline and the next lookup to a working host still runs', { timeout: 10_000 }, async () => {
    const dns = stuckResolver();
    const sender = new WebhookSender({ connectTimeoutMs: 60_000, readTimeoutMs: 60_000, deadlineMs: 400, guard: DestinationGuard.sandbox(), resolveHost: dns.resolveHost });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => sender.send(`http://slow-dns-${i}.example:${port}/hook`, '{}', {})));
      expect(results.map((r) => r.ok)).toEqual(Array(8).fill(false));
      for (const r of results) expect(r.durationMs).toBeLessThan(3000);
      // libuv's pool is 4 threads: webhooks never took more than their share of it
      expect(WEBHOOK_LOOKUP_THREADS).toBeLessThan(4);
      expect(dns.most()).toBeLessThanOrEqual(WEBHOOK_LOOKUP_THREADS);
      // the resolver comes back: the lookups still running end, their threads are free again, and
      // a new attempt (with the system's resolver) goes through
      dns.releaseAll();
      const before = hits;
      const ok = new WebhookSender({ connectTimeoutMs: 2000, readTimeoutMs: 2000, deadlineMs: 3000, guard: DestinationGuard.sandbox() });
      try {
        const r = await ok.send(`http://localhost:${port}/hook`, '{}', {});
        expect(r).toMatchObject({ ok: true, statusCode: 200, error: null });
        expect(hits).toBe(before + 1);
      } finally {
        await ok.close();
      }
      expect(dns.most()).toBeLessThanOrEqual(WEBHOOK_LOOKUP_THREADS);
    } finally {
      dns.releaseAll();
      await sender.close();
    }
  });
});
