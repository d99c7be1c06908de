/**
 * A PostgreSQL that stops answering: connections are accepted and nothing comes back (a frozen
 * server), or open connections go silent (a half-open network path after a failover). Pier runs as
 * a real process behind a proxy the test breaks.
 * Every request is answered with V1's internal error once the connect deadline passes, a charge
 * that could not be recorded never reaches the PG, and once the database answers again Pier serves
 * as before with no restart: the same merchant_uid is then paid once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { testCardNumber } from '../harness.js';
import { pierBehindProxy } from '../pier-behind-proxy.js';

const CONNECT_DEADLINE_MS = 1000;
const STATEMENT_DEADLINE_MS = 500;

describe.runIf(process.env.TEST_DATABASE_URL)('PostgreSQL stops answering under a running Pier', () => {
  const rig = pierBehindProxy('db-deadline', { PIER_DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_DEADLINE_MS), PIER_DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_DEADLINE_MS) });
  const { api, token } = rig;
  const card = testCardNumber({ kftcCode: '366', lastFour: '1234' });
  const charge = (t: string, merchantUid: string) => api('POST', '/subscribe/payments/onetime', t, { merchant_uid: merchantUid, amount: 1_000, card_number: card, expiry: '2030-01', birth: '123456' });
  const approvalsAtPg = async () => ((await (await fetch(`${rig.simulatorUrl()}/__ledger`)).json()) as { approvals: unknown[] }).approvals.length;

  beforeAll(rig.start, 600_000);
  afterAll(rig.stop);

  it('answers every request with V1’s internal error after the deadline, charges nothing it could not record, and recovers when the database answers again', async () => {
    const t = await token();
    const first = JSON.parse((await charge(t, 'before_freeze')).text);
    expect(first).toMatchObject({ code: 0, response: { merchant_uid: 'before_freeze', status: 'paid' } });
    const approvedBefore = await approvalsAtPg();

    rig.proxy().freeze();
    const [read, pay, sign] = await Promise.all([
      api('GET', `/payments/${first.response.imp_uid}`, t),
      charge(t, 'during_freeze'),
      api('POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET }),
    ]);
    for (const res of [read, pay, sign]) {
      expect(res.status).toBe(500);
      expect(JSON.parse(res.text)).toMatchObject({ code: -1, message: expect.stringMatching(/^서버 내부 오류가 발생했습니다/), response: null });
      // neither the database's address nor the driver's words
      expect(res.text).not.toMatch(/127\.0\.0\.1|timeout|postgres/i);
    }
    expect(rig.proxy().held()).toBeGreaterThan(0);
    // the charge failed before its attempt was recorded: the PG was never asked
    expect(await approvalsAtPg()).toBe(approvedBefore);

    rig.proxy().thaw();
    const again = JSON.parse((await charge(t, 'during_freeze')).text);
    expect(again).toMatchObject({ code: 0, response: { merchant_uid: 'during_freeze', status: 'paid', amount: 1_000 } });
    expect(await approvalsAtPg()).toBe(approvedBefore + 1);
    const read2 = JSON.parse((await api('GET', `/payments/${first.response.imp_uid}`, t)).text);
    expect(read2).toMatchObject({ code: 0, response: { merchant_uid: 'before_freeze', status: 'paid' } });
  }, 300_000);

  it('answers requests whose connection went silent mid-way (a half-open path) with V1’s internal error, and serves the next on new connections', async () => {
    const t = await token();
    const paid = JSON.parse((await charge(t, 'before_stall')).text);
    expect(paid).toMatchObject({ code: 0, response: { status: 'paid' } });
    const read = () => api('GET', `/payments/${paid.response.imp_uid}`, t);
    // a burst first, so the pool holds several idle connections when they go silent: with only the
    // one or two the charge used, the background lanes' claims could take them all first and every
    // read below would run on a new connection (seen under load)
    expect((await Promise.all(Array.from({ length: 12 }, read))).map((r) => r.status)).toEqual(Array(12).fill(200));
    // Pier's pooled connections stay open, and nothing comes back on them any more
    rig.proxy().stall();
    const during = await Promise.all(Array.from({ length: 12 }, read));
    const statuses = during.map((r) => r.status);
    // a request that took a silent connection is answered once the wait for its answer ends; the
    // others, and every later one, run on connections opened after the stall
    expect(statuses).toContain(500);
    for (const r of during) {
      if (r.status === 500) expect(JSON.parse(r.text)).toMatchObject({ code: -1, message: expect.stringMatching(/^서버 내부 오류가 발생했습니다/), response: null });
      else expect(JSON.parse(r.text)).toMatchObject({ code: 0, response: { merchant_uid: 'before_stall', status: 'paid' } });
    }
    const after = await Promise.all(Array.from({ length: 5 }, read));
    expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const again = JSON.parse((await charge(t, 'after_stall')).text);
    expect(again).toMatchObject({ code: 0, response: { merchant_uid: 'after_stall', status: 'paid' } });
  }, 300_000);
});
