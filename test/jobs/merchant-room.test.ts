import { describe, expect, it } from 'vitest';
import { MerchantRoom } from '../../src/jobs/merchant-room.js';

describe('MerchantRoom (a lane’s room per merchant)', () => {
  it('leaves out merchants at their cap and takes no more rows than the fullest other merchant has room for', () => {
    const room = new MerchantRoom(4);
    expect(room.forClaim(50)).toEqual({ leftOut: [], limit: 4 });
    for (let i = 0; i < 4; i++) room.took('m_full');
    room.took('m_one');
    expect(room.forClaim(50)).toEqual({ leftOut: ['m_full'], limit: 3 });
    expect(room.forClaim(2)).toEqual({ leftOut: ['m_full'], limit: 2 });
    expect(room.ended('m_full')).toBe(true);
    expect(room.forClaim(50)).toEqual({ leftOut: [], limit: 1 });
  });

  it('with a refill point, leaves a merchant out until that much of its room is free, and says when it is', () => {
    const room = new MerchantRoom(8, 4);
    for (let i = 0; i < 8; i++) room.took('m');
    const ends = Array.from({ length: 8 }, () => room.ended('m'));
    // room 1, 2, 3 free: still left out; from 4 free on a claim may take its rows
    expect(ends).toEqual([false, false, false, true, true, true, true, true]);
    expect(room.forClaim(50)).toEqual({ leftOut: [], limit: 8 });
    for (let i = 0; i < 5; i++) room.took('m');
    expect(room.forClaim(50)).toEqual({ leftOut: ['m'], limit: 8 });
  });

  it('clamps its refill point to between 1 and the cap', () => {
    expect(new MerchantRoom(2, 0).refillAt).toBe(1);
    expect(new MerchantRoom(2, 9).refillAt).toBe(2);
  });
});
