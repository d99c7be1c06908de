/**
 * Time comes from a Clock so that tests and the sandbox can move it.
 * `now()` is milliseconds since the epoch, like Date.now().
 */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * The longest duration a setting may give (one day, decision 0050): Node runs a timer longer than
 * 2^31-1 ms (24.8 days) after 1 ms, and PostgreSQL refuses a statement_timeout past it, so a
 * larger "no limit, really" would end every timeout at once; a day also leaves room for the
 * margins added to some (a shutdown's backstop, a stalled answer's wait).
 */
export const MAX_DURATION_MS = 86_400_000;

/** A clock that only moves when told to (tests, sandbox time travel). */
export class ManualClock implements Clock {
  constructor(private ms: number = Date.UTC(2026, 0, 15, 3, 0, 0)) {}
  now(): number {
    return this.ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A clock shifted by an offset that can be changed at run time (sandbox time travel). */
export class OffsetClock implements Clock {
  constructor(private readonly base: Clock = systemClock, public offsetMs = 0) {}
  now(): number {
    return this.base.now() + this.offsetMs;
  }
}

/** UNIX seconds, as every V1 timestamp is. */
export function unixSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}

/** Korea has no daylight saving time: KST is always UTC+9. */
const KST_OFFSET_MS = 9 * 3600 * 1000;

/** Calendar parts of an instant in KST. */
export function kstParts(ms: number) {
  const d = new Date(ms + KST_OFFSET_MS);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YYYYMMDDHHMMSS` in KST: tPay's ediDate and date fields. */
export function kstTimestamp14(ms: number): string {
  const p = kstParts(ms);
  return `${p.year}${pad(p.month)}${pad(p.day)}${pad(p.hour)}${pad(p.minute)}${pad(p.second)}`;
}

/** `YYYYMMDD` in KST. */
export function kstDate8(ms: number): string {
  return kstTimestamp14(ms).slice(0, 8);
}
