/**
 * Issue #14's aims, each a ratio to (or a difference from) something measured in the same run:
 * the yardstick (bench/yardstick-server.ts: Pier's two commits on Pier's schema, decision 0021; the
 * same server on minimal tables is named in the details as context, never judged), the simulator alone at the same arrival rate, one Pier
 * process, the webhook receiver driven by a plain load generator. Pure: run.ts gathers the numbers
 * (aimInputs), computeAims judges them; a missing number gives `measured: null, met: null`, never a
 * pass.
 */

/** The arrival rate at which aim 5 (p99 Pier adds, open loop) is judged; other rates are reported. */
export const JUDGED_OPEN_LOOP_RATE = 200;

export type Store = 'SQLite' | 'PostgreSQL';

export interface Aim {
  name: string;
  /** e.g. "≤ 1.5"; `met` is null when there is no target (reported only) or nothing was measured */
  target: string;
  measured: number | null;
  unit: string;
  met: boolean | null;
  /** the numbers behind the ratio, or why it was not measured */
  detail: string;
}

/** One closed-loop `again` measurement, as the aims need it. */
export interface AgainNumbers {
  okPerSec: number;
  /** CPU ms of the server process (tree) per answered request */
  serverCpuMsPerReq: number | null;
  /** CPU ms of all postgres processes per answered request (PostgreSQL only) */
  postgresCpuMsPerReq: number | null;
}

export interface AimInputs {
  pier: Partial<Record<Store, AgainNumbers>>;
  /** Pier's two commits on Pier's schema (bench/yardstick-server.ts, YS_TABLES=pier): what the aims are judged against */
  yardstick: Partial<Record<Store, AgainNumbers>>;
  /** context only, named in the aims' details: the yardstick on two minimal tables of its own */
  yardstickMinimalTables?: Partial<Record<Store, AgainNumbers>>;
  /**
   * Pier's and the yardstick's `again` measured in turns, both running (decision 0027): when there
   * are any for a store, its CPU and throughput aims judge the median of these pairs' ratios
   */
  cpuPairs?: Partial<Record<Store, Array<{ pier: AgainNumbers; yardstick: AgainNumbers }>>>;
  roundTrips: Partial<Record<Store, { roundTrips: number; commits: number }>>;
  /** null: not run; `supported: false`: this Pier has no PIER_WORKERS */
  workers: { supported: false; reason: string } | { supported: true; runs: Array<{ store: Store; workers: number; okPerSec: number; cores: number | null }> } | null;
  /**
   * p50/p99 in ms at each fixed arrival rate: Pier and the yardstick per store, and the simulator
   * alone; at the judged rate in rounds of turns (`round`, decision 0090), each store with its own
   * simulator-alone baseline (`baselineFor`)
   */
  openLoop: Array<{ who: Store | 'simulator'; server?: 'pier' | 'yardstick'; round?: number; baselineFor?: Store; ratePerSec: number; p50: number; p99: number; errors: number }>;
  schedules: { oneProcessSec: number | null; threeProcessesSec: number | null } | null;
  /**
   * webhooks/s: Pier's delivery rate from a full queue (N deliveries pending before the clock
   * starts) per store, and the same receiver's rate from the plain load generator
   */
  webhooks: { pierPerSec: Partial<Record<Store, number | null>>; receiverPerSec: number | null } | null;
  /** measurements that had failed requests: "what: n errors" */
  failedRequests: string[];
}

const STORES: Store[] = ['SQLite', 'PostgreSQL'];

/**
 * The simulator-alone run a server's open-loop run is compared with: the same rate and round, measured
 * as that store's baseline; in results from before decision 0090 (no rounds, one baseline for both
 * stores), the simulator alone at that rate.
 */
export function openLoopBaseline<T extends { who: string; round?: number; baselineFor?: string }>(runs: readonly T[], of: T, rateOf: (x: T) => number): T | undefined {
  const sims = runs.filter((x) => x.who === 'simulator' && rateOf(x) === rateOf(of));
  return sims.find((x) => x.round === of.round && x.baselineFor === of.who) ?? sims.find((x) => x.round === undefined && x.baselineFor === undefined);
}
const r2 = (x: number) => Math.round(x * 100) / 100;
/** the middle value, or the mean of the middle two */
const median = (xs: number[]) => {
  const sorted = [...xs].sort((m, n) => m - n);
  const mid = sorted.length / 2;
  return sorted.length % 2 === 1 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (x: number) => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : String(r2(x)));

function ratioAim(name: string, op: '≤' | '≥', limit: number, num: number | null | undefined, den: number | null | undefined, unit: string, what: string): Aim {
  const target = `${op} ${limit}`;
  if (num === null || num === undefined || !den) return { name, target, measured: null, unit, met: null, detail: `not measured (${what})` };
  const v = r2(num / den);
  return { name, target, measured: v, unit, met: op === '≤' ? num / den <= limit : num / den >= limit, detail: `${fmt(num)} / ${fmt(den)} ${what}` };
}

function atMost(name: string, limit: number, v: number | null | undefined, unit: string, detail: string): Aim {
  if (v === null || v === undefined) return { name, target: `≤ ${limit}`, measured: null, unit, met: null, detail: 'not measured' };
  return { name, target: `≤ ${limit}`, measured: v, unit, met: v <= limit, detail };
}

/** Pier's number ÷ the yardstick on minimal tables', as context appended to an aim's detail (never judged) */
function withMinimal(aim: Aim, pier: number | null | undefined, minimal: number | null | undefined, unit: string): Aim {
  if (aim.measured === null || pier === null || pier === undefined || !minimal) return aim;
  return { ...aim, detail: `${aim.detail}; context: the yardstick on minimal tables ${fmt(minimal)} ${unit}, Pier ÷ it ${r2(pier / minimal)}` };
}

/**
 * An aim on Pier ÷ the yardstick judged on the median of the pairs measured in turns when there are
 * any (a ratio of two measurements seconds apart moves less with the machine than one of two
 * minutes apart; decisions 0027 and 0089), with the single measurements as context; on the single
 * measurements otherwise.
 */
function pairedAim(
  name: string,
  which: keyof AgainNumbers,
  op: '≤' | '≥',
  limit: number,
  what: string,
  pier: AgainNumbers | undefined,
  yardstick: AgainNumbers | undefined,
  pairs: Array<{ pier: AgainNumbers; yardstick: AgainNumbers }> | undefined,
): Aim {
  const single = ratioAim(name, op, limit, pier?.[which], yardstick?.[which], '×', what);
  const ratios = (pairs ?? []).flatMap((p) => {
    const a = p.pier[which];
    const b = p.yardstick[which];
    return a !== null && b ? [{ ratio: a / b, a, b }] : [];
  });
  if (ratios.length === 0) return single;
  const middle = median(ratios.map((r) => r.ratio));
  const each = ratios.map((r) => `${r2(r.ratio)} (${fmt(r.a)} / ${fmt(r.b)})`).join(', ');
  const context = single.measured === null ? '' : `; measured once each, minutes apart: ${single.measured} (${single.detail})`;
  const met = op === '≤' ? middle <= limit : middle >= limit;
  return { name, target: `${op} ${limit}`, measured: r2(middle), unit: '×', met, detail: `median of ${ratios.length} pairs measured in turns: ${each} ${what}${context}` };
}

export function computeAims(x: AimInputs): Aim[] {
  const aims: Aim[] = [];
  const minimal = x.yardstickMinimalTables ?? {};
  const pairs = x.cpuPairs ?? {};
  // 2. CPU per payment, and round trips / commits
  for (const s of STORES) {
    const pier = x.pier[s]?.serverCpuMsPerReq;
    aims.push(withMinimal(pairedAim(`CPU per \`again\`, Pier ÷ yardstick (${s})`, 'serverCpuMsPerReq', '≤', 1.5, 'server CPU ms per payment', x.pier[s], x.yardstick[s], pairs[s]), pier, minimal[s]?.serverCpuMsPerReq, 'ms'));
  }
  const pgPier = x.pier.PostgreSQL?.postgresCpuMsPerReq;
  aims.push(withMinimal(pairedAim('PostgreSQL CPU per `again`, Pier ÷ yardstick', 'postgresCpuMsPerReq', '≤', 1.5, 'postgres CPU ms per payment', x.pier.PostgreSQL, x.yardstick.PostgreSQL, pairs.PostgreSQL), pgPier, minimal.PostgreSQL?.postgresCpuMsPerReq, 'ms'));
  for (const s of STORES) {
    const rt = x.roundTrips[s];
    aims.push(atMost(`database round trips per \`again\` (${s})`, 3, rt?.roundTrips, 'round trips', 'counted at the driver as test/api/round-trips.test.ts does; fewest over the counted payments'));
    aims.push(atMost(`commits per \`again\` (${s})`, 2, rt?.commits, 'commits', 'record, call, record: the webhook event in the second commit'));
  }
  // 3. throughput at the same concurrency (the pairs' turns run at the same concurrency too)
  for (const s of STORES) {
    const pier = x.pier[s]?.okPerSec;
    aims.push(withMinimal(pairedAim(`\`again\` throughput, Pier ÷ yardstick (${s})`, 'okPerSec', '≥', 0.7, 'payments/s', x.pier[s], x.yardstick[s], pairs[s]), pier, minimal[s]?.okPerSec, 'payments/s'));
  }
  // 4. every core: reported, no target
  for (const s of STORES) {
    const name = `\`again\` throughput, PIER_WORKERS=2 ÷ 1 (${s})`;
    if (!x.workers) aims.push({ name, target: 'reported', measured: null, unit: '×', met: null, detail: 'not measured' });
    else if (!x.workers.supported) aims.push({ name, target: 'reported', measured: null, unit: '×', met: null, detail: x.workers.reason });
    else {
      const w = x.workers.runs;
      const one = w.find((r) => r.store === s && r.workers === 1);
      const two = w.find((r) => r.store === s && r.workers === 2);
      const ratio = one && two && one.okPerSec > 0 ? r2(two.okPerSec / one.okPerSec) : null;
      const cores = (r?: { okPerSec: number; cores: number | null }) => (r ? `${fmt(r.okPerSec)}/s on ${r.cores ?? '?'} cores` : 'not measured');
      aims.push({ name, target: 'reported', measured: ratio, unit: '×', met: null, detail: `1 worker ${cores(one)}, 2 workers ${cores(two)}` });
    }
  }
  // 5. added latency, open loop
  const rates = [...new Set(x.openLoop.map((o) => o.ratePerSec))].sort((a, b) => a - b);
  const rateOf = (o: AimInputs['openLoop'][number]) => o.ratePerSec;
  for (const s of STORES) {
    for (const rate of rates) {
      const name = `p99 latency Pier adds at ${rate}/s, open loop (${s})`;
      const judged = rate === JUDGED_OPEN_LOOP_RATE;
      const target = judged ? '≤ 5' : 'reported';
      const piers = x.openLoop.filter((o) => o.who === s && o.server !== 'yardstick' && o.ratePerSec === rate);
      // rounds measured in turns (decision 0090), else the one measurement
      const measured = piers.flatMap((pier) => {
        const sim = openLoopBaseline(x.openLoop, pier, rateOf);
        const yardstick = x.openLoop.find((o) => o.who === s && o.server === 'yardstick' && o.ratePerSec === rate && o.round === pier.round);
        return sim ? [{ pier, sim, yardstick }] : [];
      });
      if (measured.length === 0) {
        aims.push({ name, target, measured: null, unit: 'ms', met: null, detail: 'not measured' });
        continue;
      }
      const pierErrors = measured.reduce((n, m) => n + m.pier.errors, 0);
      const simErrors = measured.reduce((n, m) => n + m.sim.errors, 0);
      const errors = `${pierErrors ? `; Pier ${pierErrors} errors` : ''}${simErrors ? `; simulator alone ${simErrors} errors (baseline not clean)` : ''}`;
      const timed = measured.filter((m) => Number.isFinite(m.pier.p99) && Number.isFinite(m.sim.p99));
      if (timed.length === 0) {
        // nothing answered: no latency to subtract, and a judged aim with failed requests is missed
        aims.push({ name, target, measured: null, unit: 'ms', met: judged && pierErrors > 0 ? false : null, detail: `no answers to time${errors}` });
        continue;
      }
      const added = median(timed.map((m) => m.pier.p99 - m.sim.p99));
      const addedP50 = median(timed.map((m) => m.pier.p50 - m.sim.p50));
      const ys = timed.flatMap((m) => (m.yardstick && Number.isFinite(m.yardstick.p99) ? [{ p50: m.yardstick.p50 - m.sim.p50, p99: m.yardstick.p99 - m.sim.p99, errors: m.yardstick.errors }] : []));
      const ysErrors = ys.reduce((n, y) => n + y.errors, 0);
      // context: what the yardstick (the same commits and call, no framework) adds at this rate
      const design = ys.length > 0 ? `; context: the yardstick adds p50 ${r2(median(ys.map((y) => y.p50)))} / p99 ${r2(median(ys.map((y) => y.p99)))} ms${ys.length > 1 ? ` (medians; p99 ${ys.map((y) => r2(y.p99)).join(', ')})` : ''}${ysErrors ? ` (${ysErrors} errors)` : ''}` : '';
      const each = (m: (typeof timed)[number]) => `Pier p50 ${m.pier.p50} / p99 ${m.pier.p99} ms − simulator alone p50 ${m.sim.p50} / p99 ${m.sim.p99} ms`;
      const what =
        timed.length === 1
          ? `${each(timed[0])}; p50 added ${r2(addedP50)} ms`
          : `median of ${timed.length} rounds measured in turns: p99 added ${timed.map((m) => r2(m.pier.p99 - m.sim.p99)).join(', ')} ms (${timed.map(each).join('; ')}); p50 added ${r2(addedP50)} ms (median)`;
      aims.push({ name, target, measured: r2(added), unit: 'ms', met: judged ? added <= 5 && pierErrors === 0 : null, detail: `${what}${errors}${design}` });
    }
  }
  // 6. schedules across processes, webhook delivery
  const sch = x.schedules;
  aims.push(ratioAim('due schedules on PostgreSQL (10,000 in a full run): time with 1 process ÷ with 3', '≥', 1.5, sch?.oneProcessSec, sch?.threeProcessesSec, '×', 'seconds'));
  for (const s of STORES) {
    aims.push(
      ratioAim(`webhook delivery from a full queue, Pier ÷ what the receiver accepts from a plain load generator (${s})`, '≥', 0.5, x.webhooks?.pierPerSec[s], x.webhooks?.receiverPerSec, '×', 'webhooks/s'),
    );
  }
  // correctness is not traded
  aims.push({
    name: 'every request of every measurement answered correctly',
    target: '= 0',
    measured: x.failedRequests.length,
    unit: 'measurements with errors',
    met: x.failedRequests.length === 0,
    detail: x.failedRequests.length === 0 ? 'V1 code 0, status paid, the merchant_uid sent' : x.failedRequests.join('; '),
  });
  return aims;
}
