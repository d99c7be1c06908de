/**
 * The buyer rewrites `notifyUrl` in the tPay form Pier hands the browser: the simulator took the
 * deposit notice's address from that form field, so a deposit's notice went to the buyer's server
 * and Pier learnt of the deposit only when the account passed its deadline, if anything asked then.
 * tPay takes no such field (spec/jtnet.md §2.1 lists none): a merchant registers its notice URL in
 * tPay's admin. The simulator now sends a MID's notices to the URL registered for that MID, Pier's
 * sandbox registers it, and the form carries none (decision 0086).
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formOf, rspOf } from '../buyer-forms.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { postHttp, rig, uid } from './window-rig.js';

let pier: TestPier;
let m: TestMerchant;
let m2: TestMerchant;
const r = rig(() => ({ pier, m }));
const r2 = rig(() => ({ pier, m: m2 }));

// the buyer's own server, where the rewritten form asked the PG to send the notice
let attacker: Server;
let attackerUrl: string;
const stolen: string[] = [];

beforeAll(async () => {
  attacker = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      stolen.push(body);
      res.writeHead(200).end('OK');
    });
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as { port: number }).port}/notice`;
  pier = await startTestPier({ listen: true });
  m = await pier.newMerchant();
  m2 = await pier.newMerchant();
});
afterAll(async () => {
  await pier?.close();
  await new Promise<void>((resolve) => attacker?.close(() => resolve()));
});

/** A virtual-account checkout whose tPay form is posted with `extra` fields, issued and posted back to Pier. */
async function issueAccount(rg: typeof r, extra: Record<string, string>) {
  const s = await rg.createSession({ pay_method: 'vbank', merchant_uid: uid('notice'), amount: 21000 });
  const pgForm = formOf((await rg.postPier(`/checkout/${s.session_id}/start`, { agree: '1' })).html, 'pg-form');
  const window = await postHttp(pgForm.action, { ...pgForm.fields, ...extra });
  expect(window.status, window.html).toBe(200);
  const payForm = formOf(window.html, 'payForm');
  const issued = await rg.actInWindow({ submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken! }, { action: 'pay', bankCode: '004' });
  const rsp = rspOf((await rg.postPier(issued.action, issued.fields)).html);
  expect({ success: rsp.success, status: rsp.status }).toEqual({ success: true, status: 'ready' });
  return { impUid: rsp.imp_uid as string, form: pgForm.fields };
}

/** The buyer's transfer into the account, at the simulator (the bank). */
async function deposit(impUid: string) {
  const res = await fetch(`${pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: impUid, amount: 21000, depositorName: '홍길동' }) });
  return (await res.json()) as { status: string; notice: { url: string; delivered: boolean } | null };
}

describe("a deposit notice's address the buyer rewrote in the tPay form", () => {
  it('the notice goes to the URL registered for the MID, not to the one the form named: Pier records the deposit at once', async () => {
    const { impUid, form } = await issueAccount(r, { notifyUrl: attackerUrl });
    const dep = await deposit(impUid);
    expect({ status: dep.status, delivered: dep.notice?.delivered, to: dep.notice?.url.startsWith(pier.pierUrl!) }).toEqual({ status: 'paid', delivered: true, to: true });
    expect(stolen).toEqual([]);
    const p = await r.payment(impUid);
    expect({ status: p.status, paid_at: Number(p.paid_at) > 0 }).toEqual({ status: 'paid', paid_at: true });
    expect(await r.eventsOf(impUid)).toEqual(['ready', 'paid']);
    // and Pier's form names no notice URL at all
    expect(form.notifyUrl).toBeUndefined();
  });

  it("another merchant on the same test MID: its deposit's notice, at the URL registered for the MID, is recorded on its own payment", async () => {
    const { impUid } = await issueAccount(r2, {});
    const dep = await deposit(impUid);
    expect(dep.notice?.delivered).toBe(true);
    const p = await r2.payment(impUid);
    expect({ status: p.status, merchant: p.merchant_id }).toEqual({ status: 'paid', merchant: m2.merchantId });
  });
});
