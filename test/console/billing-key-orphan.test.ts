/**
 * Deleting a billing key whose channel was removed ("remove anyway"). The console promises the
 * delete removes the key at the PG too; with the channel's credentials gone, Pier cannot reach the
 * PG, so the key stayed registered there (chargeable by whoever holds the MID's key) while the
 * console and V1 answered that it was deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { testCardNumber } from '../harness.js';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

let c: ConsolePier;
let u: ConsoleUser;
let a: Agent;
const billingMid = JTNET_TEST_MIDS.find((t) => t.mid === 'tpaytest2m')!;

beforeAll(async () => {
  c = await startConsolePier();
  u = await c.newUser();
  a = c.agent();
  expect((await a.signIn(u.email, u.password)).status).toBe(303);
});
afterAll(() => c.close());

/** The simulator's record of the card tokens issued for this customer on tpaytest2m. */
async function pgKeys(): Promise<Array<{ deletedAt: number | null }>> {
  const ledger = (await (await fetch(`${c.pier.simulatorUrl}/__ledger`)).json()) as { billingKeys: Array<{ mid: string; mallUserId: string | null; deletedAt: number | null }> };
  return ledger.billingKeys.filter((k) => k.mid === billingMid.mid);
}

async function issueThenRemoveChannel(customerUid: string) {
  const before = (await pgKeys()).length;
  const issued = await c.pier.call('POST', `/subscribe/customers/${customerUid}`, {
    token: u.merchant.token,
    body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '7781' }), expiry: '2030-12', birth: '820213', pwd_2digit: '12', pg: `jtnet.${billingMid.mid}` },
  });
  expect(issued.body.code).toBe(0);
  expect(await pgKeys()).toHaveLength(before + 1);
  const channels = (await a.get('/console/api/channels')).json.channels as Array<{ id: string; mid: string }>;
  const ch = channels.find((x) => x.mid === billingMid.mid)!;
  const refused = await a.api('DELETE', `/console/api/channels/${ch.id}`);
  expect(refused.status).toBe(409);
  expect((await a.api('DELETE', `/console/api/channels/${ch.id}?force=1`)).status).toBe(200);
}

describe('deleting a billing key whose channel was removed', () => {
  it('is refused, naming the removed channel, while the key is still at the PG: nothing is forgotten', async () => {
    await issueThenRemoveChannel('orphan_1');
    const del = await a.api('DELETE', '/console/api/billing-keys/orphan_1');
    expect(del.status).toBe(409);
    expect(del.json).toMatchObject({ ok: false, error: { code: 'refused' } });
    expect(del.json.error.message).toContain(`jtnet.${billingMid.mid}`);
    expect((await pgKeys()).at(-1)!.deletedAt).toBeNull();
    // Pier still has it, so it can still be deleted at the PG later
    expect((await a.get('/console/api/billing-keys/orphan_1')).status).toBe(200);
    // the page's delete button says the same beside the key
    const page = await a.post('/console/billing-keys/orphan_1/delete');
    expect(page.status).toBe(409);
    expect(page.body).toContain('PG사의 빌링키를 삭제할 수 없습니다');
    const v1 = await c.pier.call('DELETE', '/subscribe/customers/orphan_1', { token: u.merchant.token });
    expect(v1.body).toEqual({ code: 1, message: expect.stringContaining(`jtnet.${billingMid.mid}`), response: null });

    // the same PG account added again: the delete goes through it and reaches the PG
    const readded = await a.api('POST', '/console/api/channels', { provider: 'jtnet', kind: 'api', mid: billingMid.mid, merchant_key: billingMid.merchantKey, cancel_password: billingMid.cancelPassword, test_mode: true });
    expect(readded.status).toBe(201);
    const deleted = await a.api('DELETE', '/console/api/billing-keys/orphan_1');
    expect(deleted.status).toBe(200);
    expect(deleted.json.customer.customer_uid).toBe('orphan_1');
    expect((await pgKeys()).at(-1)!.deletedAt).not.toBeNull();
    expect((await a.get('/console/api/billing-keys/orphan_1')).status).toBe(404);
  });
});
