import { sql } from 'kysely';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Store } from '../../store/db.js';

/**
 * Sandbox time travel. In sandbox mode Pier's clock is the real time plus an offset stored in the
 * database (`sandbox_settings.clock_offset_ms`), so every Pier process and the CLI agree on it:
 * `pier sandbox clock advance 30d` makes a schedule due next month run now.
 *
 * `now()` must be synchronous, so each process caches the offset and re-reads it every
 * `refreshMs` (and whenever a worker starts a pass). A process that advanced it sees it at once.
 *
 * @example
 *   const clock = new SandboxClock(store);
 *   await clock.refresh();
 *   await advanceSandboxClock(store, parseDuration('30d'), clock);
 */
export class SandboxClock implements Clock {
  private offset = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly base: Clock = systemClock,
  ) {}

  now(): number {
    return this.base.now() + this.offset;
  }

  get offsetMs(): number {
    return this.offset;
  }

  /** Sets the cached offset (after this process changed it in the database). */
  setOffset(ms: number): void {
    this.offset = ms;
  }

  /** Re-reads the offset from the database. */
  async refresh(): Promise<number> {
    this.offset = await readSandboxOffset(this.store);
    return this.offset;
  }

  /** Keeps the offset fresh in the background (unref'd: it never holds the process open). */
  start(refreshMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.refresh().catch(() => undefined);
    }, refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/**
 * The real time (ms) under Pier's clock: the sandbox clock minus its offset, both from the same
 * cached read; any other clock as it is. What a live channel's PG runs on (decision 0121).
 */
export function realNowMs(clock: Clock): number {
  return clock instanceof SandboxClock ? clock.now() - clock.offsetMs : clock.now();
}

/** Clocks that can re-read shared state (the sandbox clock); workers call it before each pass. */
export async function refreshClock(clock: Clock): Promise<void> {
  if (clock instanceof SandboxClock) await clock.refresh();
}

export async function readSandboxOffset(store: Store): Promise<number> {
  const row = await store.db.selectFrom('sandbox_settings').select('clock_offset_ms').where('id', '=', 1).executeTakeFirst();
  return row ? Number(row.clock_offset_ms) : 0;
}

/**
 * Moves the sandbox clock forward by `deltaMs` (one atomic UPDATE, so two operators advancing at
 * once both count) and returns the new offset. Time never moves backwards except by reset.
 */
export async function advanceSandboxClock(store: Store, deltaMs: number, clock?: Clock): Promise<number> {
  if (!Number.isSafeInteger(deltaMs) || deltaMs <= 0) throw new RangeError('the clock only moves forward: give a positive duration');
  if (deltaMs > MAX_SANDBOX_OFFSET_MS) throw new RangeError(OFFSET_LIMIT_MESSAGE);
  // the bound is part of the UPDATE, so two operators advancing at once cannot pass it together
  const res = await store.db
    .updateTable('sandbox_settings')
    .set({ clock_offset_ms: sql`clock_offset_ms + ${deltaMs}`, updated_at: Math.floor(Date.now() / 1000) })
    .where('id', '=', 1)
    .where(sql<boolean>`clock_offset_ms + ${deltaMs} <= ${MAX_SANDBOX_OFFSET_MS}`)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new RangeError(OFFSET_LIMIT_MESSAGE);
  const offset = await readSandboxOffset(store);
  if (clock instanceof SandboxClock) clock.setOffset(offset);
  return offset;
}

/**
 * How far the sandbox clock may run ahead: ten years. Far enough for any subscription test, and
 * small enough that every timestamp, KST date string and PG tid built from the clock stays valid
 * (an offset of 8.6e15 ms once pushed Date past its range and minted `NNaNNaN…` tids).
 */
export const MAX_SANDBOX_OFFSET_MS = 10 * 365 * 86_400_000;
const OFFSET_LIMIT_MESSAGE = 'the sandbox clock can run at most 10 years ahead of the real time (reset it first)';

/**
 * Back to the real time. Webhook retries fall due on the sandbox clock, so pending deliveries are
 * moved back by the offset too: a retry due a minute from now stays a minute from now instead of
 * being stranded a month ahead. So are window acknowledgements and rechecks (window_confirms): one
 * stranded a month ahead left an approval unconfirmed until the PG net-cancelled it, or a late
 * approval unfound. So are virtual accounts' deposit checks (decision 0086). Schedules keep their
 * schedule_at: it is the merchant's own date. A schedule's retry after a technical failure (or its
 * wait for a PG left out) is Pier's own time, due_at past schedule_at: moved back too, never
 * before schedule_at, or it was stranded the offset ahead, up to ten years (decision 0118).
 */
export async function resetSandboxClock(store: Store, clock?: Clock): Promise<void> {
  await store.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('sandbox_settings').select('clock_offset_ms').where('id', '=', 1).executeTakeFirst();
    const offsetSeconds = Math.floor(Number(row?.clock_offset_ms ?? 0) / 1000);
    await trx.updateTable('sandbox_settings').set({ clock_offset_ms: 0, updated_at: Math.floor(Date.now() / 1000) }).where('id', '=', 1).execute();
    if (offsetSeconds > 0) {
      await trx
        .updateTable('webhook_deliveries')
        .set({ next_attempt_at: sql`CASE WHEN next_attempt_at > ${offsetSeconds} THEN next_attempt_at - ${offsetSeconds} ELSE 0 END` })
        // a literal: webhook_deliveries_due is partial on it (migration 027)
        .where(sql<boolean>`state = 'pending'`)
        .execute();
      await trx
        .updateTable('window_confirms')
        .set({ due_at: sql`CASE WHEN due_at > ${offsetSeconds} THEN due_at - ${offsetSeconds} ELSE 0 END` })
        // a literal: window_confirms_due is partial on it (migration 028)
        .where(sql<boolean>`state = 'pending'`)
        .execute();
      await trx
        .updateTable('payments')
        .set({ deposit_check_at: sql`CASE WHEN deposit_check_at > ${offsetSeconds} THEN deposit_check_at - ${offsetSeconds} ELSE 0 END` })
        // a literal: payments_deposit_check is partial on it (migration 029)
        .where(sql<boolean>`deposit_check_at is not null`)
        .execute();
      await trx
        .updateTable('payment_schedules')
        .set({ due_at: sql`CASE WHEN due_at - ${offsetSeconds} > schedule_at THEN due_at - ${offsetSeconds} ELSE schedule_at END` })
        // a literal: payment_schedules_due is partial on it (migration 028); a first run is due at schedule_at
        .where(sql<boolean>`state = 'scheduled'`)
        .where(sql<boolean>`due_at > schedule_at`)
        .execute();
    }
  });
  if (clock instanceof SandboxClock) clock.setOffset(0);
}

const UNIT_MS: Record<string, number> = { w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/**
 * `30d`, `12h`, `90m`, `45s`, `2w`, combined as `1d12h`, or a bare number of seconds.
 * Returns milliseconds; throws RangeError on anything else.
 */
export function parseDuration(text: string): number {
  const t = text.trim().toLowerCase();
  let ms = 0;
  if (/^\d+$/.test(t)) ms = Number(t) * 1000;
  else if (!/^(\d+[wdhms])+$/.test(t)) throw new RangeError(`"${text}" is not a duration (e.g. 30d, 12h, 90m, 45s, 1d12h)`);
  else for (const [, n, unit] of t.matchAll(/(\d+)([wdhms])/g)) ms += Number(n) * UNIT_MS[unit];
  if (!Number.isSafeInteger(ms) || ms > MAX_SANDBOX_OFFSET_MS) throw new RangeError(`"${text}" is longer than the 10 years the sandbox clock can move`);
  return ms;
}

/** `31d 4h 0m 5s` */
export function formatDuration(ms: number): string {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return d > 0 ? `${d}d ${h}h ${m}m ${s}s` : h > 0 ? `${h}h ${m}m ${s}s` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}
