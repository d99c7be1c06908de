/**
 * What the log says of rows waiting for a PG this process leaves out (decisions 0080, 0087). Each
 * such row is handed back every PG_LEFT_OUT_WAIT_SECONDS, and used to log one info line each time:
 * a thousand rows, a thousand lines every five minutes. Now each wait is a debug line, and one info
 * line per PG sums up a sweep: the rows that waited in one PG_LEFT_OUT_WAIT_SECONDS (each row waits
 * that long between looks, so a period sees each of them once), by kind, and the one waiting
 * longest. The line for a period is written when the next period's first row waits, so it counts
 * the whole period; rows that stop waiting (a process with the PG's settings took them) end the
 * lines. Kept per store and per process, like the notice memo (notice-inquiries.ts): every worker
 * sums up the rows it looked at.
 */
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { PG_LEFT_OUT_WAIT_SECONDS } from './channels.js';

/** The background work a waiting row belongs to. */
export type WaitingRowKind = 'window_confirm' | 'payment' | 'refund' | 'schedule' | 'scheduled_payment';

/** One row waiting: its kind, its key (imp_uid, cancellation id, merchant_uid), since when (UNIX s: made, or due). */
export interface WaitingRow {
  kind: WaitingRowKind;
  key: string;
  since: number;
}

interface Period {
  startMs: number;
  rows: number;
  byKind: Partial<Record<WaitingRowKind, number>>;
  oldest: WaitingRow;
}

const perStore = new WeakMap<object, Map<string, Period>>();

/**
 * A row of `provider` waits for a process with the PG's settings: `detail` and `msg` at debug, and
 * counted for the PG's summary line.
 */
export function noteLeftOutWait(deps: { store: object; clock: Clock; logger: Logger }, provider: string, row: WaitingRow, detail: Record<string, unknown>, msg: string): void {
  deps.logger.debug({ provider, ...detail }, msg);
  let periods = perStore.get(deps.store);
  if (!periods) perStore.set(deps.store, (periods = new Map()));
  const now = deps.clock.now();
  let p = periods.get(provider);
  if (p && now - p.startMs >= PG_LEFT_OUT_WAIT_SECONDS * 1000) {
    summarise(deps.logger, provider, p, now);
    p = undefined;
  }
  if (!p) periods.set(provider, (p = { startMs: now, rows: 0, byKind: {}, oldest: row }));
  p.rows += 1;
  p.byKind[row.kind] = (p.byKind[row.kind] ?? 0) + 1;
  if (row.since < p.oldest.since) p.oldest = row;
}

function summarise(logger: Logger, provider: string, p: Period, nowMs: number): void {
  const nowS = Math.floor(nowMs / 1000);
  logger.info(
    {
      provider,
      rows: p.rows,
      by_kind: p.byKind,
      oldest: { kind: p.oldest.kind, key: p.oldest.key, since: p.oldest.since, waiting_s: Math.max(0, nowS - p.oldest.since) },
      period_s: Math.round((nowMs - p.startMs) / 1000),
    },
    `${p.rows} row(s) wait for PG "${provider}", which this process leaves out; they resume once a process with its settings runs`,
  );
}
