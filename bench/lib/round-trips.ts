/**
 * Database round trips and commits per `again` payment (issue #14, aim 2), counted as
 * test/api/round-trips.test.ts counts them (at the driver; on SQLite, statements run without
 * yielding are one trip), on a Pier started for this with the
 * bench/lib/count-queries.mjs preload. Payments are sent one at a time and each is counted on its
 * own; the fewest over all of them is the payment's cost (a background job's poll that happened to
 * fall inside one request's window adds to that request only), the median is reported beside it.
 */
import { join } from 'node:path';
import { percentile } from './arrivals.js';
import { setupMerchant, startPierProc, v1 } from './pier.js';
import { ROOT, stop } from './proc.js';

export interface RoundTripCount {
  store: 'SQLite' | 'PostgreSQL';
  payments: number;
  roundTrips: { min: number; median: number };
  commits: { min: number; median: number };
  /** the round trips of the payment with the fewest, each as its statements joined with ' + ' */
  sample: string[];
}

export async function countRoundTrips(opts: {
  store: RoundTripCount['store'];
  dataDir: string;
  databaseUrl: string;
  jtnetUrl: string;
  tag: string;
  payments: number;
}): Promise<RoundTripCount> {
  const env: Record<string, string> = {};
  if (opts.databaseUrl.startsWith('sqlite:')) env.COUNT_SQLITE_FILE = opts.databaseUrl.slice('sqlite:'.length);
  const pier = await startPierProc({
    name: `pier-count-${opts.store}`,
    dataDir: opts.dataDir,
    databaseUrl: opts.databaseUrl,
    jtnetUrl: opts.jtnetUrl,
    nodeArgs: ['--import', join(ROOT, 'bench/lib/count-queries.mjs')],
    env,
    portsIn: ['COUNT_PORT'],
  });
  try {
    const read = async () => (await (await fetch(`http://127.0.0.1:${pier.env.COUNT_PORT}/`)).json()) as { roundTrips: number; commits: number; recent: string[] };
    const setup = await setupMerchant(pier.url, 1, opts.tag);
    const each: Array<{ roundTrips: number; commits: number; sample: string[] }> = [];
    for (let i = 0; i < opts.payments; i++) {
      const before = await read();
      const r = await v1(pier.url, 'POST', '/subscribe/payments/again', setup.token, { customer_uid: setup.customerUids[0], merchant_uid: `rt_${opts.tag}_${i}`, amount: 1000, name: 'bench round trips' });
      const after = await read();
      if (r.json?.code !== 0 || r.json.response?.status !== 'paid' || r.json.response?.merchant_uid !== `rt_${opts.tag}_${i}`) throw new Error(`again failed while counting: ${r.text.slice(0, 300)}`);
      each.push({ roundTrips: after.roundTrips - before.roundTrips, commits: after.commits - before.commits, sample: after.recent });
    }
    if (each.every((e) => e.roundTrips === 0)) throw new Error('no statements counted: the preload did not see Pier\'s database driver');
    const sorted = (k: 'roundTrips' | 'commits') => each.map((e) => e[k]).sort((a, b) => a - b);
    const fewest = each.reduce((a, b) => (b.roundTrips < a.roundTrips ? b : a));
    return {
      store: opts.store,
      payments: each.length,
      roundTrips: { min: sorted('roundTrips')[0], median: percentile(sorted('roundTrips'), 50) },
      commits: { min: sorted('commits')[0], median: percentile(sorted('commits'), 50) },
      sample: fewest.sample,
    };
  } finally {
    await stop(pier.child);
  }
}
