/**
 * One PG call lasts at most its connect + read timeout, however the PG (or a proxy in front of it)
 * trickles its answer. undici's read timeouts are per wait (headers, then each body chunk), so a
 * body sent one byte at a time, or `102 Processing` sent again and again before the headers (each
 * re-arms the headers timeout), kept a call alive for as long as they kept coming, past the job
 * leases and the reconciliation grace that count on connect + read (decisions 0056, 0009, 0061).
 *
 * Real HTTP against a server that trickles on its own schedule; the call's end is judged against
 * the configured timeouts with bounds wide enough for a loaded machine (the trickle runs four
 * times as long as the budget plus that slack).
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TpayClient } from '../../src/connectors/jtnet/client.js';
import { NiceClient } from '../../src/connectors/nicepay/client.js';
import { ConnectorError } from '../../src/connectors/types.js';
import { Secret } from '../../src/lib/secret.js';

const CONNECT_TIMEOUT_MS = 500;
const READ_TIMEOUT_MS = 1000;
const BUDGET_MS = CONNECT_TIMEOUT_MS + READ_TIMEOUT_MS;
/** what a loaded machine may add to the deadline's firing and the socket's teardown */
const SLACK_MS = 1500;
/** one byte this often: ten of them inside every read timeout */
const EVERY_MS = 100;
/** the trickle then ends with a whole answer: a call still waiting gets it */
const TRICKLE_MS = 4 * (BUDGET_MS + SLACK_MS);
/** both PGs' success shapes in one JSON object, after the trickled whitespace */
const ANSWER = '{"result_cd":"0000","result_msg":"ok","resultCode":"0000","resultMsg":"ok"}';

type Trickle = 'body' | 'interim';

/**
 * A PG that sends something every EVERY_MS and its whole JSON answer after TRICKLE_MS: `body`
 * answers 200 at once and then one space at a time; `interim` sends `102 Processing` each time
 * and its 200 only at the end.
 */
async function startTricklingPg(trickle: Trickle) {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const state = { requests: 0, sends: 0, finished: false };
  let closed!: () => void;
  const clientGone = new Promise<void>((r) => (closed = r));
  const server: Server = createServer((req, res) => {
    state.requests++;
    req.resume();
    const started = performance.now();
    if (trickle === 'body') res.writeHead(200, { 'content-type': 'application/json' });
    const t = setInterval(() => {
      if (performance.now() - started < TRICKLE_MS) {
        if (trickle === 'body') res.write(' ');
        else res.writeProcessing();
        state.sends++;
        return;
      }
      clearInterval(t);
      state.finished = true;
      if (trickle === 'interim') res.writeHead(200, { 'content-type': 'application/json' });
      res.end(ANSWER);
    }, EVERY_MS);
    timers.add(t);
    res.on('close', () => {
      clearInterval(t);
      closed();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    state,
    clientGone,
    async stop() {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let pg: Awaited<ReturnType<typeof startTricklingPg>> | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await pg?.stop();
  pg = undefined;
});

const clients: [string, (url: string) => () => Promise<unknown>][] = [
  [
    'tPay',
    (url) => {
      const c = new TpayClient({ baseUrl: url, connectTimeoutMs: CONNECT_TIMEOUT_MS, readTimeoutMs: READ_TIMEOUT_MS });
      closers.push(() => c.close());
      return () => c.post('payments', { mid: 'tpaytest0m', moid: 'imp_trickled', amt: 1000 });
    },
  ],
  [
    'NICE',
    (url) => {
      const c = new NiceClient({ connectTimeoutMs: CONNECT_TIMEOUT_MS, readTimeoutMs: READ_TIMEOUT_MS });
      closers.push(() => c.close());
      const channel = { mid: 'S2_nice', merchantKey: new Secret('secret') };
      return () => c.call(url, channel, 'approve', { method: 'POST', path: '/v1/payments/tid_1', body: { amount: 1000 } });
    },
  ],
];

const cases = clients.flatMap(([name, makeCall]) =>
  (['body', 'interim'] as const).map((trickle) => [name, trickle === 'body' ? 'its body one byte at a time' : '102 Processing before its headers', trickle, makeCall] as const),
);

describe.each(cases)('a %s call whose PG trickles %s', (_pg, _how, trickle, makeCall) => {
  it(
    'ends at connect + read timeout as a timeout in doubt, while the PG is still trickling',
    async () => {
      pg = await startTricklingPg(trickle);
      const call = makeCall(pg.url);
      const started = performance.now();
      const outcome = await call().then(
        (answer) => ({ answer, err: undefined }),
        (err: unknown) => ({ answer: undefined, err }),
      );
      const tookMs = performance.now() - started;
      await pg.clientGone;

      // the request reached the PG, which kept sending: every byte came inside the read timeout
      expect(pg.state.requests).toBe(1);
      expect(pg.state.sends).toBeGreaterThan(READ_TIMEOUT_MS / EVERY_MS);
      // before: the call took the whole trickle (about 12 s here) and returned the PG's answer
      expect(tookMs).toBeLessThan(BUDGET_MS + SLACK_MS);
      expect(outcome.answer).toBeUndefined();
      // not the read timeout (which the trickle keeps resetting): the whole call's budget
      expect(tookMs).toBeGreaterThan(READ_TIMEOUT_MS);
      expect(pg.state.finished).toBe(false);
      // classified as a read timeout always was: the PG may have acted, reconciliation asks it
      expect(outcome.err).toBeInstanceOf(ConnectorError);
      const err = outcome.err as ConnectorError;
      expect({ kind: err.kind, inDoubt: err.inDoubt, retryable: err.retryable }).toEqual({ kind: 'timeout', inDoubt: true, retryable: false });
      expect(err.message).toMatch(/: no answer in time \(the call's deadline passed\)$/);
      // the message reaches merchants: never the PG's address
      expect(err.message).not.toContain('127.0.0.1');
    },
    3 * TRICKLE_MS,
  );
});
