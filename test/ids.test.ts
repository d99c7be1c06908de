/**
 * timeOrderedId: rows written one after another (a payment's events in one transaction) sort in
 * the order they were made, within a millisecond too. The ids were random within a millisecond, and
 * reconcile.test.ts's "approval and refund together" read its paid and cancelled events back in
 * either order.
 */
import { describe, expect, it } from 'vitest';
import { newId, timeOrderedId } from '../src/lib/ids.js';

describe('timeOrderedId', () => {
  it('sorts ids in the order they were made, many to a millisecond, across refills of the random pool', () => {
    const ids = Array.from({ length: 5_000 }, () => timeOrderedId());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    // a UUIDv7 still: version 7, RFC variant
    for (const id of ids.slice(0, 50)) expect(id).toMatch(/^[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
  });

  it('keeps the order of prefixed ids (newId)', () => {
    const ids = Array.from({ length: 1_000 }, () => newId('evt'));
    expect([...ids].sort()).toEqual(ids);
  });
});
