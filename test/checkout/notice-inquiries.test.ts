/**
 * The bounds on what PG notices may cost the PG (src/core/virtual-accounts/notice-inquiries.ts,
 * decision 0082), pure: single flight per message, the remembered outcomes and their bound in
 * size and time, and each channel's token bucket.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { NOTICE_INQUIRY_LIMITS, NoticeInquiries } from '../../src/core/virtual-accounts/notice-inquiries.js';
import type { DepositOutcome } from '../../src/core/virtual-accounts/deposit.js';

const paid = (impUid: string): DepositOutcome => ({ ok: true, impUid, duplicate: false });
const unavailable: DepositOutcome = { ok: false, reason: 'pg_unavailable', message: 'NICE lookup: HTTP 500' };

function counted(outcome: DepositOutcome = paid('imp_1')) {
  let asked = 0;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  return {
    get asked() {
      return asked;
    },
    release,
    ask: async () => {
      asked++;
      await gate;
      return outcome;
    },
    now: async () => {
      asked++;
      return outcome;
    },
  };
}

describe('notice inquiries', () => {
  it('one message posted 100 times at once is asked about once; each post gets the outcome, the repeats as duplicates', async () => {
    const n = new NoticeInquiries(new ManualClock(0));
    const pg = counted();
    const posts = Array.from({ length: 100 }, () => n.ask('ch_1', 'tid|edi|imp_1', pg.ask));
    pg.release();
    const outcomes = await Promise.all(posts);
    expect(pg.asked).toBe(1);
    expect(outcomes[0]).toEqual({ ok: true, impUid: 'imp_1', duplicate: false });
    expect(outcomes.slice(1).every((o) => o.ok && o.duplicate)).toBe(true);
  });

  it('an outcome answers the message for an hour; "could not ask" for 30 s; then the PG is asked again', async () => {
    const clock = new ManualClock(0);
    const n = new NoticeInquiries(clock);
    const pg = counted();
    for (let i = 0; i < 10; i++) await n.ask('ch_1', 'm1', pg.now);
    expect(pg.asked).toBe(1);
    clock.advance(NOTICE_INQUIRY_LIMITS.rememberedMs - 1);
    await n.ask('ch_1', 'm1', pg.now);
    expect(pg.asked).toBe(1);
    clock.advance(1);
    await n.ask('ch_1', 'm1', pg.now);
    expect(pg.asked).toBe(2);

    const down = counted(unavailable);
    for (let i = 0; i < 10; i++) expect(await n.ask('ch_1', 'm2', down.now)).toEqual(unavailable);
    expect(down.asked).toBe(1);
    clock.advance(NOTICE_INQUIRY_LIMITS.failureRememberedMs);
    await n.ask('ch_1', 'm2', down.now);
    expect(down.asked).toBe(2);
  });

  it('remembers at most its bound of messages, forgetting the oldest', async () => {
    const n = new NoticeInquiries(new ManualClock(0), { ...NOTICE_INQUIRY_LIMITS, maxRemembered: 50, burst: 1000 });
    const pg = counted();
    for (let i = 0; i < 120; i++) await n.ask('ch_1', `m${i}`, pg.now);
    expect(n.rememberedCount).toBe(50);
    await n.ask('ch_1', 'm119', pg.now);
    expect(pg.asked).toBe(120);
    await n.ask('ch_1', 'm0', pg.now);
    expect(pg.asked).toBe(121);
  });

  it("a channel's notices start at most the burst at once, then one a second; another channel's are not held back", async () => {
    const clock = new ManualClock(0);
    const n = new NoticeInquiries(clock);
    const pg = counted();
    const outcomes = [];
    for (let i = 0; i < NOTICE_INQUIRY_LIMITS.burst + 20; i++) outcomes.push(await n.ask('ch_busy', `m${i}`, pg.now));
    expect(pg.asked).toBe(NOTICE_INQUIRY_LIMITS.burst);
    expect(outcomes.filter((o) => !o.ok && o.reason === 'pg_unavailable')).toHaveLength(20);
    // notices without a message id count too
    expect(await n.ask('ch_busy', null, pg.now)).toMatchObject({ ok: false, reason: 'pg_unavailable' });
    expect(await n.ask('ch_other', 'm0', pg.now)).toEqual(paid('imp_1'));
    expect(pg.asked).toBe(NOTICE_INQUIRY_LIMITS.burst + 1);
    clock.advance(10_000);
    for (let i = 0; i < 20; i++) await n.ask('ch_busy', `later${i}`, pg.now);
    expect(pg.asked).toBe(NOTICE_INQUIRY_LIMITS.burst + 1 + 10);
  });
});

describe('notice inquiries (decision 0087)', () => {
  it("notices about payments Pier holds open have a bucket of their own: a channel's settled payments' notices cannot spend it", async () => {
    const n = new NoticeInquiries(new ManualClock(0));
    const pg = counted();
    for (let i = 0; i < NOTICE_INQUIRY_LIMITS.burst + 5; i++) await n.ask('ch_1', `settled${i}`, pg.now);
    expect(await n.ask('ch_1', 'settled-more', pg.now)).toMatchObject({ ok: false, reason: 'pg_unavailable' });
    expect(await n.ask('ch_1', 'deposit', pg.now, { open: true })).toEqual(paid('imp_1'));
    // and the other way round
    for (let i = 0; i < NOTICE_INQUIRY_LIMITS.burst; i++) await n.ask('ch_2', `open${i}`, pg.now, { open: true });
    expect(await n.ask('ch_2', 'open-more', pg.now, { open: true })).toMatchObject({ ok: false, reason: 'pg_unavailable' });
    expect(await n.ask('ch_2', 'cancel', pg.now)).toEqual(paid('imp_1'));
  });

  it("a message the PG made more than the margin before an answer Pier applied is read already; the PG's times only, per channel and tid, bounded", async () => {
    const n = new NoticeInquiries(new ManualClock(0), { ...NOTICE_INQUIRY_LIMITS, maxRemembered: 3 });
    const read = 1_800_000_000;
    expect(n.readAfter('ch_1', 'tid1', read - 3600)).toBe(false);
    n.noteRead('ch_1', 'tid1', read);
    expect(n.readAfter('ch_1', 'tid1', read - NOTICE_INQUIRY_LIMITS.readMarginSeconds - 1)).toBe(true);
    // within the margin (the PG's clocks may differ by that much), or after the read: asked about
    expect(n.readAfter('ch_1', 'tid1', read - NOTICE_INQUIRY_LIMITS.readMarginSeconds)).toBe(false);
    expect(n.readAfter('ch_1', 'tid1', read + 1)).toBe(false);
    expect(n.readAfter('ch_2', 'tid1', read - 3600)).toBe(false);
    expect(n.readAfter('ch_1', 'tid2', read - 3600)).toBe(false);
    // an older answer noted late does not move the read back
    n.noteRead('ch_1', 'tid1', read - 7200);
    expect(n.readAfter('ch_1', 'tid1', read - 3600)).toBe(true);
    // at most its bound of reads, the least recently noted forgotten first
    for (const tid of ['a', 'b', 'c']) n.noteRead('ch_1', tid, read);
    expect(n.readAfter('ch_1', 'tid1', read - 3600)).toBe(false);
    expect(n.readAfter('ch_1', 'c', read - 3600)).toBe(true);
  });
});
