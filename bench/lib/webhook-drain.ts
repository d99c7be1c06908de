/**
 * Webhook delivery from a full queue (issue #14 aim 6): how fast Pier empties a backlog of N
 * pending deliveries to one local receiver, measured apart from how fast payments are made.
 *
 * A running, idle Pier; N events with one delivery each to the receiver are written into Pier's
 * tables with Pier's own outbox code (recordPaymentEvent, as a payment's commit writes them) in
 * one transaction, so the whole backlog appears at once. From that commit the clock runs until the
 * receiver has got all N. The receiver checks each delivery arrived exactly once (by
 * `webhook-id`), and verifies the Standard Webhooks signature of a sample with the merchant's
 * secret, as a merchant's endpoint would.
 */
import { Webhook } from 'standardwebhooks';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { recordPaymentEvent, recordPaymentEventNow, type PaymentEvent } from '../../src/core/payments/events.js';
import { systemClock } from '../../src/lib/clock.js';
import { openStore } from '../../src/store/db.js';
import type { Store } from './aims.js';
import { cpuMeter, type CpuUse } from './machine.js';
import { startPierProc, v1 } from './pier.js';
import { stop } from './proc.js';
import { startReceiver } from '../extras.js';

export interface WebhookDrainRun {
  store: Store;
  /** deliveries queued before the clock started */
  count: number;
  /** seconds to write the backlog (one transaction) */
  fillSec: number;
  received: number;
  /** distinct webhook-ids received */
  distinct: number;
  /** requests beyond one per delivery (0 = exactly once) */
  duplicates: number;
  signatures: { checked: number; valid: number };
  /** from the commit of the backlog to the first request at the receiver (the runner's idle pause) */
  pickupSec: number | null;
  /** from the first request to the last: the delivery rate's window */
  spanSec: number | null;
  /** deliveries per second over spanSec (the number the aim uses) */
  perSec: number | null;
  /** from the commit to the last request */
  totalSec: number | null;
  totalPerSec: number | null;
  /** over the drain: Pier (process tree), postgres, and the receiver (this process) */
  cpu: CpuUse | null;
  /** CPU ms per delivery: Pier, PostgreSQL, the receiver */
  cpuMsPerDelivery: { pier: number | null; postgres: number | null; receiver: number | null };
  /** the deliveries' final states in Pier's table */
  states: Record<string, number>;
  note?: string;
}

const SAMPLE = 200;

export async function webhookDrain(opts: {
  store: Store;
  databaseUrl: string;
  dataDir: string;
  jtnetUrl: string;
  count: number;
  timeoutSec: number;
  tag: string;
  progress: (line: string) => void;
  /** more environment for Pier */
  env?: Record<string, string>;
  /** node flags for Pier, e.g. --cpu-prof */
  nodeArgs?: string[];
}): Promise<WebhookDrainRun> {
  const receiver = await startReceiver({ sample: SAMPLE });
  const pier = await startPierProc({ name: `pier-webhooks-${opts.store}`, dataDir: opts.dataDir, databaseUrl: opts.databaseUrl, jtnetUrl: opts.jtnetUrl, env: opts.env, nodeArgs: opts.nodeArgs });
  const store = openStore(opts.databaseUrl, { poolSize: 2 });
  try {
    const t = await v1(pier.url, 'POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET });
    if (t.json?.code !== 0) throw new Error(`getToken failed: ${t.text}`);
    const token = t.json.response.access_token as string;
    const settings = await v1(pier.url, 'GET', '/pier/webhooks/settings', token);
    const secret = settings.json?.response?.secret as string | undefined;
    if (!secret) throw new Error(`no webhook secret: ${settings.text.slice(0, 200)}`);
    const merchant = await store.db.selectFrom('api_keys').select('merchant_id as id').where('imp_key', '=', DEMO_IMP_KEY).executeTakeFirstOrThrow();

    // a backlog: what `count` paid payments with notice_url = `url` leave in the outbox, in one commit
    const fill = async (name: string, count: number, url: string) => {
      const events: PaymentEvent[] = Array.from({ length: count }, (_, i) => ({
        merchantId: merchant.id,
        impUid: `imps_${name}${opts.tag}${i}`,
        merchantUid: `${name}_${opts.tag}_${i}`,
        status: 'paid',
        noticeUrl: url,
        cause: 'charge',
      }));
      if (store.syncTransaction) {
        await store.syncTransaction((run) => {
          for (const e of events) recordPaymentEventNow(run, store.db, { clock: systemClock }, e);
        });
      } else {
        await store.db.transaction().execute(async (trx) => {
          for (const e of events) await recordPaymentEvent(trx, { clock: systemClock }, e);
        });
      }
    };

    // Warm-up, to a receiver of its own: a Pier that has run for a while has its delivery path
    // compiled by V8's optimising compiler; one just started sends its first few thousand slower
    // and at more CPU each. A fifth of the count is drained first and not measured.
    const warm = await startReceiver();
    try {
      const warmCount = Math.max(200, Math.round(opts.count / 5));
      await fill('bwhw', warmCount, warm.url);
      const warmUntil = Date.now() + opts.timeoutSec * 1000;
      while (warm.times.length < warmCount) {
        if (Date.now() > warmUntil) throw new Error(`the warm-up's ${warmCount} webhooks were not all delivered within ${opts.timeoutSec} s`);
        opts.progress(`webhooks from a full queue (${opts.store}): warm-up ${warm.times.length}/${warmCount}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      warm.server.close();
      warm.server.closeAllConnections();
    }

    const fillStarted = performance.now();
    await fill('bwh', opts.count, receiver.url);
    const committedAt = performance.now();
    const fillSec = (committedAt - fillStarted) / 1000;
    const cpu0 = process.cpuUsage();
    const meter = cpuMeter({ pier: pier.child.pid }, opts.store === 'PostgreSQL');

    const until = Date.now() + opts.timeoutSec * 1000;
    // a Pier that stops delivering (an error in its log) ends the wait early rather than at the timeout
    let lastCount = -1;
    let lastChange = Date.now();
    while (receiver.times.length < opts.count && Date.now() < until && Date.now() - lastChange < 20_000) {
      if (receiver.times.length !== lastCount) {
        lastCount = receiver.times.length;
        lastChange = Date.now();
      }
      opts.progress(`webhooks from a full queue (${opts.store}): ${receiver.times.length.toLocaleString('en-US')}/${opts.count.toLocaleString('en-US')} received`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cpu = meter.end();
    const receiverCpuSec = (() => {
      const u = process.cpuUsage(cpu0);
      return (u.user + u.system) / 1e6;
    })();
    // anything more (a duplicate) would arrive now
    await new Promise((r) => setTimeout(r, 500));

    const times = receiver.times;
    const first = times[0];
    const last = times[Math.min(times.length, opts.count) - 1];
    const done = times.length >= opts.count;
    const spanSec = done && times.length > 1 ? (last - first) / 1000 : null;
    const totalSec = done ? (last - committedAt) / 1000 : null;
    let valid = 0;
    for (const s of receiver.samples) {
      try {
        new Webhook(secret).verify(s.body, s.headers, { jsonParse: false });
        valid++;
      } catch {
        /* counted as invalid */
      }
    }
    const stateRows = await store.db
      .selectFrom('webhook_deliveries')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('url', '=', receiver.url)
      .groupBy('state')
      .execute();
    const states = Object.fromEntries(stateRows.map((r) => [r.state, Number(r.n)]));
    const perMs = (cores: number | undefined, n: number) => (cores !== undefined && n > 0 ? Math.round(((cores * cpu.seconds * 1000) / n) * 1000) / 1000 : null);
    return {
      store: opts.store,
      count: opts.count,
      fillSec,
      received: times.length,
      distinct: receiver.ids.size,
      duplicates: times.length - receiver.ids.size,
      signatures: { checked: receiver.samples.length, valid },
      pickupSec: first === undefined ? null : (first - committedAt) / 1000,
      spanSec,
      perSec: spanSec ? (opts.count - 1) / spanSec : null,
      totalSec,
      totalPerSec: totalSec ? opts.count / totalSec : null,
      cpu,
      cpuMsPerDelivery: {
        pier: perMs(cpu.cores.pier, times.length),
        postgres: perMs(cpu.cores.postgres, times.length),
        receiver: times.length > 0 ? Math.round(((receiverCpuSec * 1000) / times.length) * 1000) / 1000 : null,
      },
      states,
      note: done ? undefined : `only ${times.length} of ${opts.count} received (timeout ${opts.timeoutSec} s, or 20 s without one)`,
    };
  } finally {
    await store.close();
    await stop(pier.child);
    receiver.server.close();
    receiver.server.closeAllConnections();
  }
}
