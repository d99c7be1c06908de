/**
 * Timing math of the open-loop generator (bench/openloop.ts), kept pure so it can be tested:
 * requests arrive at a constant rate whatever the server does, and each one's latency is counted
 * from the time it was *scheduled* to be sent, so a stalled server cannot hide its stall by slowing
 * the generator down (no coordinated omission).
 */

/** When request `i` (0-based) is due, in ms after the start `t0`. */
export function scheduledAt(i: number, ratePerSec: number, t0 = 0): number {
  return t0 + (i * 1000) / ratePerSec;
}

/**
 * How many requests are due `elapsedMs` after the start: request i is due at i/rate seconds, so at
 * elapsed 0 one is due; never more than `total`, none before the start.
 */
export function dueCount(elapsedMs: number, ratePerSec: number, total: number): number {
  if (elapsedMs < 0) return 0;
  // a hair of tolerance: 0.1 + 0.2 style float error must not hold a request back a whole tick
  return Math.min(total, Math.floor((elapsedMs * ratePerSec) / 1000 + 1e-9) + 1);
}

/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** p50/p90/p99/max/mean of latencies in ms, rounded to 0.01 ms. */
export function summarize(latenciesMs: readonly number[]): LatencySummary {
  const s = [...latenciesMs].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return { p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? NaN), mean: r(mean) };
}
