/**
 * PIER_DATABASE_POOL_SIZE: the most PostgreSQL connections one Pier process opens for its
 * statements (its job claims have INDEX_ONLY_POOL_SIZE of their own). An operator sizes it against
 * the server's max_connections: N workers × (pool + 3) + 2. Pier runs as a real process behind a
 * proxy that counts the connections it carries at once; a burst of charges past the pool queues
 * for a connection and is answered, and never opens more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INDEX_ONLY_POOL_SIZE } from '../../src/store/index-only.js';
import { testCardNumber } from '../harness.js';
import { pierBehindProxy } from '../pier-behind-proxy.js';

const POOL_SIZE = 2;
const BURST = 40;

describe.runIf(process.env.TEST_DATABASE_URL)('PIER_DATABASE_POOL_SIZE', () => {
  const rig = pierBehindProxy('pool-size', { PIER_DATABASE_POOL_SIZE: String(POOL_SIZE) });
  const card = testCardNumber({ kftcCode: '366', lastFour: '1234' });
  beforeAll(rig.start, 600_000);
  afterAll(rig.stop);

  it(`a burst of ${BURST} charges is answered over at most ${POOL_SIZE} connections for statements`, async () => {
    const token = await rig.token();
    // the start's own connections (migrations, the primary's) are closed by now or counted below
    rig.proxy().takePeak();
    const answers = await Promise.all(
      Array.from({ length: BURST }, async (_, i) =>
        JSON.parse(
          (await rig.api('POST', '/subscribe/payments/onetime', token, { merchant_uid: `pool_${i}`, amount: 1_000 + i, card_number: card, expiry: '2030-01', birth: '123456' })).text,
        ),
      ),
    );
    for (const [i, a] of answers.entries()) expect(a).toMatchObject({ code: 0, response: { merchant_uid: `pool_${i}`, amount: 1_000 + i, status: 'paid' } });
    const peak = rig.proxy().takePeak();
    // the job claims may hold their own connections meanwhile; requests never get more than the pool
    expect(peak).toBeGreaterThanOrEqual(POOL_SIZE);
    expect(peak).toBeLessThanOrEqual(POOL_SIZE + INDEX_ONLY_POOL_SIZE);
  });
});
