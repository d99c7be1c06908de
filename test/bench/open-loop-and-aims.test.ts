/**
 * The bench's pure logic (bench/lib/arrivals.ts, bench/lib/aims.ts): the open-loop schedule that
 * keeps the arrival rate constant whatever the server does, and the issue #14 aims that judge a run.
 * No timing here: the bench itself is `npm run bench`.
 */
import { describe, expect, it } from 'vitest';
import { computeAims, type AimInputs } from '../../bench/lib/aims.js';
import { dueCount, percentile, scheduledAt, summarize } from '../../bench/lib/arrivals.js';

describe('open-loop schedule', () => {
  it('spaces requests 1/rate apart from the start', () => {
    expect(scheduledAt(0, 200)).toBe(0);
    expect(scheduledAt(1, 200)).toBe(5);
    expect(scheduledAt(200, 200, 1000)).toBe(2000);
    expect(scheduledAt(3, 1000, 7)).toBe(10);
  });

  it('counts the requests due so far: one at the start, then one per interval, never past the total', () => {
    expect(dueCount(-1, 200, 600)).toBe(0);
    expect(dueCount(0, 200, 600)).toBe(1);
    expect(dueCount(4.99, 200, 600)).toBe(1);
    expect(dueCount(5, 200, 600)).toBe(2);
    expect(dueCount(1000, 200, 600)).toBe(201);
    expect(dueCount(60_000, 200, 600)).toBe(600);
  });

  it('a generator woken late sends everything that fell due meanwhile (the rate holds)', () => {
    // woken 50 ms late at 1,000/s: 50 more requests are due at once, each still timed from its own slot
    expect(dueCount(150, 1000, 10_000) - dueCount(100, 1000, 10_000)).toBe(50);
    // float error must not hold a request back: 0.3 s at 10/s is exactly request #3's slot
    expect(dueCount(300, 10, 100)).toBe(4);
    expect(dueCount(0.1 * 3 * 1000, 10, 100)).toBe(4);
  });

  it('latency percentiles are nearest-rank over what was answered', () => {
    const lat = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(lat, 50)).toBe(50);
    expect(percentile(lat, 99)).toBe(99);
    expect(percentile(lat, 100)).toBe(100);
    expect(percentile([], 50)).toBeNaN();
    expect(summarize([3, 1, 2, 10])).toEqual({ p50: 2, p90: 10, p99: 10, max: 10, mean: 4 });
  });
});

const base: AimInputs = {
  pier: {
    SQLite: { okPerSec: 1400, serverCpuMsPerReq: 0.6, postgresCpuMsPerReq: null },
    PostgreSQL: { okPerSec: 700, serverCpuMsPerReq: 1.0, postgresCpuMsPerReq: 1.3 },
  },
  yardstick: {
    SQLite: { okPerSec: 2000, serverCpuMsPerReq: 0.3, postgresCpuMsPerReq: null },
    PostgreSQL: { okPerSec: 1000, serverCpuMsPerReq: 0.4, postgresCpuMsPerReq: 1.0 },
  },
  roundTrips: { SQLite: { roundTrips: 8, commits: 2 }, PostgreSQL: { roundTrips: 3, commits: 2 } },
  workers: { supported: false, reason: 'not supported by this Pier (with PIER_WORKERS=2 it ran 1 node process)' },
  openLoop: [
    { who: 'simulator', ratePerSec: 200, p50: 1, p99: 3, errors: 0 },
    { who: 'SQLite', ratePerSec: 200, p50: 3, p99: 7.5, errors: 0 },
    { who: 'PostgreSQL', ratePerSec: 200, p50: 6, p99: 9, errors: 2 },
    { who: 'simulator', ratePerSec: 1000, p50: 1, p99: 4, errors: 0 },
    { who: 'SQLite', ratePerSec: 1000, p50: 5, p99: 40, errors: 0 },
  ],
  schedules: { oneProcessSec: 30, threeProcessesSec: 20 },
  webhooks: { pierPerSec: { PostgreSQL: 300, SQLite: 3000 }, receiverPerSec: 5000 },
  failedRequests: [],
};
const byName = (aims: ReturnType<typeof computeAims>, part: string) => {
  const found = aims.filter((a) => a.name.includes(part));
  expect(found, part).toHaveLength(1);
  return found[0];
};

describe('issue #14 aims', () => {
  const aims = computeAims(base);

  it('judges CPU per payment as a ratio to the yardstick, server and PostgreSQL', () => {
    expect(byName(aims, 'CPU per `again`, Pier ÷ yardstick (SQLite)')).toMatchObject({ measured: 2, met: false, target: '≤ 1.5', unit: '×' });
    expect(byName(aims, 'CPU per `again`, Pier ÷ yardstick (PostgreSQL)')).toMatchObject({ measured: 2.5, met: false });
    expect(byName(aims, 'PostgreSQL CPU per')).toMatchObject({ measured: 1.3, met: true });
  });

  it('judges CPU on the median of the pairs measured in turns when there are any, the single measurements as context', () => {
    const n = (server: number, postgres: number | null = null) => ({ okPerSec: 1000, serverCpuMsPerReq: server, postgresCpuMsPerReq: postgres });
    const paired = computeAims({
      ...base,
      cpuPairs: {
        // the single SQLite measurements say 2.0 (0.6 / 0.3); the pairs say 1.2, 1.4, 1.9: median 1.4
        SQLite: [{ pier: n(0.6), yardstick: n(0.5) }, { pier: n(0.95), yardstick: n(0.5) }, { pier: n(0.7), yardstick: n(0.5) }],
        PostgreSQL: [{ pier: n(0.8, 1.1), yardstick: n(0.5, 1.0) }, { pier: n(1.0, 1.2), yardstick: n(0.5, 1.0) }],
      },
    });
    expect(byName(paired, 'CPU per `again`, Pier ÷ yardstick (SQLite)')).toMatchObject({ measured: 1.4, met: true });
    expect(byName(paired, 'CPU per `again`, Pier ÷ yardstick (SQLite)').detail).toBe(
      'median of 3 pairs measured in turns: 1.2 (0.6 / 0.5), 1.9 (0.95 / 0.5), 1.4 (0.7 / 0.5) server CPU ms per payment; measured once each, minutes apart: 2 (0.6 / 0.3 server CPU ms per payment)',
    );
    // an even number of pairs: the mean of the middle two (1.6 and 2.0)
    expect(byName(paired, 'CPU per `again`, Pier ÷ yardstick (PostgreSQL)')).toMatchObject({ measured: 1.8, met: false });
    expect(byName(paired, 'PostgreSQL CPU per')).toMatchObject({ measured: 1.15, met: true });
    // the other aims do not move
    expect(byName(paired, 'round trips per `again` (SQLite)')).toMatchObject(byName(aims, 'round trips per `again` (SQLite)'));
  });

  it('judges throughput on the median of the pairs too (decision 0089): one slow single measurement does not decide it', () => {
    const n = (okPerSec: number) => ({ okPerSec, serverCpuMsPerReq: 0.5, postgresCpuMsPerReq: 0.5 });
    const paired = computeAims({
      ...base,
      // the single measurements, minutes apart: 650 / 1,000 = 0.65, missed
      pier: { ...base.pier, SQLite: { ...base.pier.SQLite!, okPerSec: 650 } },
      yardstick: { ...base.yardstick, SQLite: { ...base.yardstick.SQLite!, okPerSec: 1000 } },
      // in turns: 0.6, 0.8, 0.75 → median 0.75
      cpuPairs: { SQLite: [{ pier: n(600), yardstick: n(1000) }, { pier: n(800), yardstick: n(1000) }, { pier: n(750), yardstick: n(1000) }] },
    });
    const t = byName(paired, 'throughput, Pier ÷ yardstick (SQLite)');
    expect(t).toMatchObject({ measured: 0.75, met: true, target: '≥ 0.7', unit: '×' });
    expect(t.detail).toBe('median of 3 pairs measured in turns: 0.6 (600 / 1,000), 0.8 (800 / 1,000), 0.75 (750 / 1,000) payments/s; measured once each, minutes apart: 0.65 (650 / 1,000 payments/s)');
    // and the other way round: pairs under the line miss it whatever the single measurements say
    const low = computeAims({ ...base, cpuPairs: { PostgreSQL: [{ pier: n(500), yardstick: n(1000) }, { pier: n(690), yardstick: n(1000) }] } });
    expect(byName(low, 'throughput, Pier ÷ yardstick (PostgreSQL)')).toMatchObject({ measured: 0.6, met: false });
    // a store without pairs keeps its single measurements
    expect(byName(low, 'throughput, Pier ÷ yardstick (SQLite)')).toMatchObject(byName(aims, 'throughput, Pier ÷ yardstick (SQLite)'));
  });

  it('round trips ≤ 3 and commits ≤ 2 per payment', () => {
    expect(byName(aims, 'round trips per `again` (SQLite)')).toMatchObject({ measured: 8, met: false });
    expect(byName(aims, 'round trips per `again` (PostgreSQL)')).toMatchObject({ measured: 3, met: true });
    expect(byName(aims, 'commits per `again` (PostgreSQL)')).toMatchObject({ measured: 2, met: true });
  });

  it('the yardstick on minimal tables is context: named in the details, never what is judged', () => {
    const withMinimal = computeAims({
      ...base,
      yardstickMinimalTables: {
        SQLite: { okPerSec: 4000, serverCpuMsPerReq: 0.15, postgresCpuMsPerReq: null },
        PostgreSQL: { okPerSec: 2000, serverCpuMsPerReq: 0.2, postgresCpuMsPerReq: 0.5 },
      },
    });
    // the same measured values and verdicts as without it (judged against `yardstick`)
    for (const a of aims) expect(byName(withMinimal, a.name), a.name).toMatchObject({ measured: a.measured, met: a.met });
    expect(byName(withMinimal, 'CPU per `again`, Pier ÷ yardstick (SQLite)').detail).toBe('0.6 / 0.3 server CPU ms per payment; context: the yardstick on minimal tables 0.15 ms, Pier ÷ it 4');
    expect(byName(withMinimal, 'PostgreSQL CPU per').detail).toContain('context: the yardstick on minimal tables 0.5 ms, Pier ÷ it 2.6');
    expect(byName(withMinimal, 'throughput, Pier ÷ yardstick (PostgreSQL)').detail).toContain('context: the yardstick on minimal tables 2,000 payments/s, Pier ÷ it 0.35');
  });

  it('throughput ≥ 0.7 of the yardstick', () => {
    expect(byName(aims, 'throughput, Pier ÷ yardstick (SQLite)')).toMatchObject({ measured: 0.7, met: true });
    expect(byName(aims, 'throughput, Pier ÷ yardstick (PostgreSQL)')).toMatchObject({ measured: 0.7, met: true });
  });

  it('added p99 is Pier minus the simulator alone at the same rate; judged at 200/s only, errors fail it', () => {
    expect(byName(aims, 'at 200/s, open loop (SQLite)')).toMatchObject({ measured: 4.5, met: true, target: '≤ 5' });
    expect(byName(aims, 'at 200/s, open loop (PostgreSQL)')).toMatchObject({ measured: 6, met: false });
    expect(byName(aims, 'at 1000/s, open loop (SQLite)')).toMatchObject({ measured: 36, met: null, target: 'reported' });
    expect(byName(aims, 'at 1000/s, open loop (PostgreSQL)')).toMatchObject({ measured: null, met: null });
  });

  it('the yardstick in the open loop is context in the detail, never the Pier row judged (whatever order it came in)', () => {
    const withYardstick = computeAims({
      ...base,
      openLoop: [
        { who: 'simulator', ratePerSec: 200, p50: 1, p99: 3, errors: 0 },
        { who: 'SQLite', server: 'yardstick', ratePerSec: 200, p50: 2, p99: 5.25, errors: 0 },
        { who: 'SQLite', server: 'pier', ratePerSec: 200, p50: 3, p99: 9, errors: 0 },
      ],
    });
    const a = byName(withYardstick, 'at 200/s, open loop (SQLite)');
    expect(a).toMatchObject({ measured: 6, met: false });
    expect(a.detail).toContain('context: the yardstick adds p50 1 / p99 2.25 ms');
    expect(byName(aims, 'at 200/s, open loop (SQLite)').detail).not.toContain('yardstick');
  });

  it('at the judged rate, rounds measured in turns: each round against its own baseline, the median of the rounds judged (decision 0090)', () => {
    const round = (r: number, sim: number, pier: number, yardstick: number, store: 'SQLite' | 'PostgreSQL' = 'PostgreSQL') => [
      { who: 'simulator' as const, baselineFor: store, round: r, ratePerSec: 200, p50: 1, p99: sim, errors: 0 },
      { who: store, server: 'pier' as const, round: r, ratePerSec: 200, p50: 2, p99: pier, errors: 0 },
      { who: store, server: 'yardstick' as const, round: r, ratePerSec: 200, p50: 1.5, p99: yardstick, errors: 0 },
    ];
    const inTurns = computeAims({
      ...base,
      openLoop: [
        // rounds in any order; round 2's slow baseline (30) is subtracted only from round 2's Pier (33)
        ...round(1, 30, 33, 31),
        ...round(0, 10, 14, 12),
        ...round(2, 12, 40, 13),
        // a baseline of the other store at the same rate and round is not this store's
        { who: 'simulator', baselineFor: 'SQLite', round: 0, ratePerSec: 200, p50: 1, p99: 1, errors: 0 },
        // the reported rate, measured once against its own baseline
        { who: 'simulator', baselineFor: 'PostgreSQL', ratePerSec: 1000, p50: 1, p99: 5, errors: 0 },
        { who: 'PostgreSQL', server: 'pier', ratePerSec: 1000, p50: 3, p99: 25, errors: 0 },
      ],
    });
    const a = byName(inTurns, 'at 200/s, open loop (PostgreSQL)');
    // rounds added 3, 4, 28: median 4, though a single round said 28
    expect(a).toMatchObject({ measured: 4, met: true, target: '≤ 5' });
    expect(a.detail).toBe(
      'median of 3 rounds measured in turns: p99 added 3, 4, 28 ms (Pier p50 2 / p99 33 ms − simulator alone p50 1 / p99 30 ms; Pier p50 2 / p99 14 ms − simulator alone p50 1 / p99 10 ms; Pier p50 2 / p99 40 ms − simulator alone p50 1 / p99 12 ms); p50 added 1 ms (median); context: the yardstick adds p50 0.5 / p99 1 ms (medians; p99 1, 2, 1)',
    );
    expect(byName(inTurns, 'at 1000/s, open loop (PostgreSQL)')).toMatchObject({ measured: 20, met: null, target: 'reported' });
    // no SQLite Pier was measured: its baseline alone is not a measurement
    expect(byName(inTurns, 'at 200/s, open loop (SQLite)')).toMatchObject({ measured: null, met: null });

    // failed requests in any round miss the judged aim, whatever the median
    const failed = computeAims({ ...base, openLoop: [...round(0, 10, 11, 11), ...round(1, 10, 11, 11).map((o) => (o.server === 'pier' ? { ...o, errors: 3 } : o)), ...round(2, 10, 11, 11)] });
    expect(byName(failed, 'at 200/s, open loop (PostgreSQL)')).toMatchObject({ measured: 1, met: false, detail: expect.stringContaining('Pier 3 errors') });
  });

  it('schedules 1.5× faster with 3 processes; webhooks at ≥ 0.5 of the receiver', () => {
    expect(byName(aims, 'due schedules')).toMatchObject({ measured: 1.5, met: true });
    expect(byName(aims, 'webhook delivery from a full queue, Pier ÷ what the receiver accepts from a plain load generator (PostgreSQL)')).toMatchObject({ measured: 0.06, met: false });
    expect(byName(aims, 'webhook delivery from a full queue, Pier ÷ what the receiver accepts from a plain load generator (SQLite)')).toMatchObject({ measured: 0.6, met: true });
    const pgOnly = computeAims({ ...base, webhooks: { pierPerSec: { PostgreSQL: 300 }, receiverPerSec: 5000 } });
    expect(byName(pgOnly, 'full queue, Pier ÷ what the receiver accepts from a plain load generator (SQLite)')).toMatchObject({ measured: null, met: null });
  });

  it('reports workers without judging them, and says why when unsupported', () => {
    expect(byName(aims, 'PIER_WORKERS=2 ÷ 1 (SQLite)')).toMatchObject({ measured: null, met: null, detail: expect.stringContaining('not supported') });
    const w = computeAims({
      ...base,
      workers: { supported: true, runs: [{ store: 'SQLite', workers: 1, okPerSec: 1000, cores: 1 }, { store: 'SQLite', workers: 2, okPerSec: 1600, cores: 1.9 }] },
    });
    expect(byName(w, 'PIER_WORKERS=2 ÷ 1 (SQLite)')).toMatchObject({ measured: 1.6, met: null });
  });

  it('something not measured is never a pass', () => {
    const none = computeAims({ pier: {}, yardstick: {}, roundTrips: {}, workers: null, openLoop: [], schedules: null, webhooks: null, failedRequests: [] });
    for (const a of none.filter((x) => !x.name.startsWith('every request'))) expect(a.met, a.name).toBeNull();
  });

  it('any failed request fails the correctness aim', () => {
    expect(byName(aims, 'every request')).toMatchObject({ met: true, measured: 0 });
    const bad = computeAims({ ...base, failedRequests: ['SQLite again: 3'] });
    expect(byName(bad, 'every request')).toMatchObject({ met: false, measured: 1, detail: 'SQLite again: 3' });
  });
});

describe('open-loop aims when nothing was answered', () => {
  it('reports no added latency, and a judged rate with failed requests is missed, never negative', () => {
    const aims = computeAims({
      ...base,
      openLoop: [
        { who: 'simulator', ratePerSec: 200, p50: 1, p99: 3, errors: 0 },
        { who: 'PostgreSQL', ratePerSec: 200, p50: NaN, p99: NaN, errors: 600 },
        { who: 'simulator', ratePerSec: 1000, p50: 4000, p99: 9000, errors: 10 },
        { who: 'PostgreSQL', ratePerSec: 1000, p50: NaN, p99: NaN, errors: 3000 },
      ],
    });
    expect(byName(aims, 'at 200/s, open loop (PostgreSQL)')).toMatchObject({ measured: null, met: false, detail: expect.stringContaining('600 errors') });
    expect(byName(aims, 'at 1000/s, open loop (PostgreSQL)')).toMatchObject({ measured: null, met: null, detail: expect.stringContaining('baseline not clean') });
  });
});
