import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PierError } from '../../src/api/errors.js';
import { updateChannel } from '../../src/core/console/channels.js';
import { addChannel, channelById, resolveChannel } from '../../src/core/merchants/channels.js';
import { NICE_SANDBOX_KEYS } from '../../src/connectors/nicepay/channel-rules.js';
import { createNicepaySimulator, type NicepaySimulator } from '../../src/simulators/nicepay/index.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

/**
 * NICE channels beside JTNET ones (issue #13 items 1 and 5): `pg: 'nice_v2'` and
 * `'nice_v2.{clientId}'` pick them, a NICE default takes V1 requests without `pg`, and billing keys
 * issued on JTNET keep charging through JTNET across that switch. Real HTTP to both simulators.
 */
const NICE = NICE_SANDBOX_KEYS[0];
const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '4321' }), expiry: '2030-12', birth: '820213' };

let pier: TestPier;
let nice: NicepaySimulator;
let niceUrl: string;
let m: TestMerchant;
let niceApiId: string;
let niceWindowId: string;

beforeAll(async () => {
  pier = await startTestPier();
  nice = createNicepaySimulator({ dbFile: ':memory:', clock: pier.clock });
  niceUrl = await nice.listen({ host: '127.0.0.1', port: 0 });
  m = await pier.newMerchant();
  // the simulator on the channel's own base URL, as an operator points a channel at any NICE-compatible endpoint
  const common = { provider: 'nice_v2', mid: NICE.mid, merchantKey: NICE.merchantKey, cancelPassword: '', sandbox: true, baseUrl: `${niceUrl}/` };
  niceApiId = (await addChannel(pier.deps, m.merchantId, { ...common, kind: 'api' })).id;
  niceWindowId = (await addChannel(pier.deps, m.merchantId, { ...common, kind: 'window' })).id;
});
afterAll(async () => {
  await nice?.close();
  await pier?.close();
});

const pay = (path: string, body: Record<string, unknown>) => pier.call('POST', path, { token: m.token, body });

describe('NICE channels', () => {
  it("pg 'nice_v2' and 'nice_v2.{clientId}' pick the NICE channel of each kind; no pg keeps JTNET, the default", async () => {
    for (const kind of ['api', 'window'] as const) {
      const want = kind === 'api' ? niceApiId : niceWindowId;
      expect((await resolveChannel(pier.deps, m.merchantId, 'nice_v2', kind)).row.id).toBe(want);
      expect((await resolveChannel(pier.deps, m.merchantId, `nice_v2.${NICE.mid}`, kind)).row.id).toBe(want);
      expect((await resolveChannel(pier.deps, m.merchantId, undefined, kind)).row.provider).toBe('jtnet');
    }
    const err = await resolveChannel(pier.deps, m.merchantId, 'nice_v2.S2_00000000000000000000000000000000', 'api').catch((e) => e);
    expect(err).toBeInstanceOf(PierError);
    expect(err.message).toContain(`nice_v2.${NICE.mid}`); // names what is configured
  });

  it('opens a NICE channel with its base URL (trailing slash dropped), sandbox flag and no cancel password', async () => {
    const ch = (await channelById(pier.deps, niceApiId))!;
    expect(ch.credentials).toMatchObject({ mid: NICE.mid, sandbox: true, baseUrl: niceUrl });
    expect(ch.credentials.merchantKey.reveal()).toBe(NICE.merchantKey);
    expect(ch.credentials.cancelPassword.reveal()).toBe('');
  });

  it('refuses NICE settings its rules reject, writing nothing', async () => {
    const base = { provider: 'nice_v2', merchantKey: 'k', cancelPassword: '', kind: 'api' as const, sandbox: true };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ mid: 'tpaytest1m' }, 'clientId: a NICE key'],
      [{ mid: `S2_${'a'.repeat(48)}` }, 'at most 50 characters'],
      [{ mid: 'R2_abc', sandbox: true }, 'is a live key'],
      [{ mid: 'S1_abc', sandbox: false }, 'is a sandbox key'],
      [{ mid: 'S1_abc', merchantKey: '' }, 'secretKey is required'],
      // mode A2 encrypts the card with the whole key (spec §3.1): a key that lost a character fails at the first key-in
      [{ mid: 'S1_abc', merchantKey: NICE.merchantKey.slice(0, 31) }, 'secretKey: exactly 32 characters'],
      [{ mid: 'S1_abc', merchantKey: `${NICE.merchantKey} ` }, 'secretKey: exactly 32 characters'],
      [{ mid: 'S1_abc', cancelPassword: '1234' }, 'no cancel password'],
      [{ mid: 'S1_abc', baseUrl: 'javascript:alert(1)' }, 'http or https only'],
      [{ mid: 'S1_abc', baseUrl: 'http://u:secret@127.0.0.1:1' }, 'must not carry a user name or password'],
      [{ mid: 'S1_abc', baseUrl: 'http://127.0.0.1:1/?k=v' }, 'no query or fragment'],
    ];
    for (const [override, message] of cases) {
      const err = await addChannel(pier.deps, m.merchantId, { ...base, ...override } as never).catch((e) => e);
      expect(err, JSON.stringify(override)).toBeInstanceOf(PierError);
      expect(err.message).toContain(message);
      expect(err.message).not.toContain('secret@');
    }
    // a JTNET channel cannot take a base URL: tPay's host is configured once
    const jt = await addChannel(pier.deps, m.merchantId, { provider: 'jtnet', mid: 'tpaytest9m', merchantKey: 'k', cancelPassword: 'p', kind: 'api', sandbox: true, baseUrl: niceUrl }).catch((e) => e);
    expect(jt.message).toContain('jtnet channels use the configured PG address');
    const rows = await pier.store.db.selectFrom('pg_channels').select('mid').where('merchant_id', '=', m.merchantId).execute();
    expect(rows.map((r) => r.mid).sort()).toEqual([NICE.mid, NICE.mid, 'tpaytest0m', 'tpaytest1m', 'tpaytest2m']);
  });

  it('after NICE becomes the default, pg-less payments and new billing keys go to NICE while a JTNET billing key keeps charging through JTNET', async () => {
    // before the switch: a billing key on JTNET (the default API channel)
    const jtKey = await pay('/subscribe/customers/cust_jtnet_1', card);
    expect(jtKey.body.code, JSON.stringify(jtKey.body)).toBe(0);
    expect(jtKey.body.response.pg_provider).toBe('jtnet');

    await updateChannel(pier.deps, m.merchantId, niceApiId, { isDefault: true });
    const defaults = await pier.store.db.selectFrom('pg_channels').select(['id', 'kind']).where('merchant_id', '=', m.merchantId).where('is_default', '=', 1).execute();
    expect(defaults.filter((d) => d.kind === 'api').map((d) => d.id)).toEqual([niceApiId]);

    // a V1 key-in payment without pg: through NICE, recorded against the NICE channel
    const onetime = await pay('/subscribe/payments/onetime', { merchant_uid: 'nice_default_1', amount: 5000, ...card });
    expect(onetime.body.code, JSON.stringify(onetime.body)).toBe(0);
    expect(onetime.body.response).toMatchObject({ pg_provider: 'nice_v2', pg_id: NICE.mid, status: 'paid', amount: 5000 });
    const ledger = (await (await fetch(`${niceUrl}/__ledger?orderId=${onetime.body.response.imp_uid}`)).json()) as unknown;
    expect(JSON.stringify(ledger)).toContain(onetime.body.response.imp_uid);

    // the JTNET key charges through the channel that issued it, not the new default
    const again = await pay('/subscribe/payments/again', { customer_uid: 'cust_jtnet_1', merchant_uid: 'jtnet_key_after_switch', amount: 7000, name: '정기결제' });
    expect(again.body.code, JSON.stringify(again.body)).toBe(0);
    expect(again.body.response).toMatchObject({ pg_provider: 'jtnet', pg_id: 'tpaytest1m', status: 'paid', amount: 7000 });
    const tpay = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as unknown;
    expect(JSON.stringify(tpay)).toContain(again.body.response.imp_uid);

    // a new billing key without pg is issued on NICE, and charges there
    const niceKey = await pay('/subscribe/customers/cust_nice_1', card);
    expect(niceKey.body.code, JSON.stringify(niceKey.body)).toBe(0);
    expect(niceKey.body.response).toMatchObject({ pg_provider: 'nice_v2', pg_id: NICE.mid });
    const niceAgain = await pay('/subscribe/payments/again', { customer_uid: 'cust_nice_1', merchant_uid: 'nice_key_charge', amount: 3000, name: '정기결제' });
    expect(niceAgain.body.response).toMatchObject({ pg_provider: 'nice_v2', pg_id: NICE.mid, status: 'paid', amount: 3000 });

    // and pg still picks JTNET explicitly after the switch
    const explicit = await pay('/subscribe/payments/onetime', { pg: 'jtnet.tpaytest1m', merchant_uid: 'explicit_jtnet', amount: 4000, ...card });
    expect(explicit.body.response).toMatchObject({ pg_provider: 'jtnet', pg_id: 'tpaytest1m', status: 'paid' });
  });
});
