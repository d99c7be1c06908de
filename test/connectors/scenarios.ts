/**
 * The scenario table every connector must pass (design.md: hyperswitch's shared connector tests).
 * A PG's test file builds a ScenarioHarness against that PG's simulator and runs every scenario.
 * Scenarios speak only the Connector interface; PG-specific codes and cards come from the harness.
 */
import { createServer } from 'node:net';
import { expect } from 'vitest';
import { waitFor } from '../hardening/slow-receiver.js';
import type { CardInput } from '../../src/lib/card.js';
import {
  ConnectorError,
  type ChannelCredentials,
  type ChargeRequest,
  type Connector,
} from '../../src/connectors/types.js';

export interface ExpectedDecline {
  /** what the case is, for messages */
  reason: string;
  code: string;
  message: string;
  /** charges only: card data that fails authentication, or a valid card the issuer declined (default) */
  stage?: 'authentication' | 'approval';
  /** key-in charges only: `null` when the PG refused before any payment existed (NICE: at billing-key registration) */
  pgTid?: null;
}

export interface ScenarioHarness {
  connector: Connector;
  channel: ChannelCredentials;
  /** the same account with a wrong cancel password; null for PGs without one (NICE) */
  wrongCancelPassword: ChannelCredentials | null;
  /** a connector of the same PG pointed at a closed port */
  unreachable: Connector;
  /** the simulator's clock, for `aroundMs` */
  nowMs(): number;
  /** a fresh moid (Pier sends its imp_uid) */
  newMoid(): string;
  cards: {
    /** approves everything */
    approve: CardInput;
    /** the card facts the PG reports for `approve` */
    approveDetails: { cardCode: string; cardName: string; cardNumberMasked: string; cardType: 0 | 1 };
    /** the card facts of a billing key issued for `approve`, when the PG reports fewer than on a charge (default approveDetails) */
    issuedDetails?: { cardCode: string; cardName: string; cardNumberMasked: string; cardType: 0 | 1 | null };
    /** the PG records the approval but answers later than the connector waits */
    timeout: CardInput;
    /** the PG answers with a system error */
    systemError: CardInput & { expect: ExpectedDecline };
    /** refused at billing-key issuance and on key-in charges */
    declines: Array<CardInput & { expect: ExpectedDecline }>;
    /** a billing key is issued, every charge with it declines */
    laterDeclines: Array<CardInput & { expect: ExpectedDecline }>;
  };
  /** amount/installment refusals on an otherwise approving card */
  amountDeclines: Array<{ via: 'keyIn' | 'billingKey'; amount: number; cardQuota: number; expect: ExpectedDecline }>;
  /**
   * what inquiry reports for a declined key-in attempt: `failed` (tPay keeps declines), or
   * `not_found` (NICE finds no declined charge by orderId, spec nicepay.md §3.2)
   */
  declinedAttempt?: 'failed' | 'not_found';
  /** what a refund's own slip page shows: the balance left (tPay, default) or the amount cancelled (NICE) */
  cancelSlipShows?: 'balance' | 'cancelled';
  codes: {
    overRefund: string;
    wrongCancelPassword: string | null;
    alreadyRefunded: string;
    deletedBillingKey: string;
  };
  /** the PG's own record of a transaction, or null */
  pgRecord(pgTid: string): Promise<{ status: 'paid' | 'cancelled' | 'failed'; amount: number; cancelledAmount: number } | null>;
  /** whether the PG has recorded an attempt for this order (moid / orderId) */
  pgHasOrder(moid: string): Promise<boolean>;
  /** optional fault injection of the simulator (next request only) */
  faults?: {
    /** HTTP 500 without processing */
    http500(): Promise<void>;
    /** process, then answer an unparsable body */
    badBody(): Promise<void>;
    /** process, then drop the connection; absent when the simulator cannot */
    reset?(): Promise<void>;
  };
}

/** A loopback port nothing listens on: a connector pointed there cannot connect (the harnesses' `unreachable`). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface Scenario {
  name: string;
  /** whether the scenario is about something this PG has (default: every PG); a PG's file runs only those */
  appliesTo?(h: ScenarioHarness): boolean;
  run(h: ScenarioHarness): Promise<void>;
}

function order(h: ScenarioHarness, amount: number, cardQuota = 0): ChargeRequest {
  return {
    moid: h.newMoid(),
    amount,
    goodsName: '시나리오 상품',
    cardQuota,
    buyer: { name: '홍길동', email: 'buyer@example.com', tel: '010-1234-5678' },
    mallUserId: 'customer_1',
  };
}

export async function expectConnectorError(p: Promise<unknown>, kind: ConnectorError['kind'], inDoubt: boolean): Promise<ConnectorError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected a ConnectorError(${kind}), got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectorError);
  const ce = err as ConnectorError;
  expect({ kind: ce.kind, inDoubt: ce.inDoubt }).toEqual({ kind, inDoubt });
  return ce;
}

async function approvedKeyIn(h: ScenarioHarness, amount: number) {
  const req = order(h, amount);
  const r = await h.connector.chargeKeyIn(h.channel, h.cards.approve, req);
  if (r.outcome !== 'approved') throw new Error(`expected approval, got ${JSON.stringify(r)}`);
  return { ...r, moid: req.moid };
}

export const scenarios: Scenario[] = [
  {
    name: 'issues a billing key and charges it',
    async run(h) {
      const key = await h.connector.issueBillingKey(h.channel, h.cards.approve, { name: '홍길동' });
      expect(key).toEqual({ outcome: 'issued', billingKey: expect.stringMatching(/\S{16,}/), ...(h.cards.issuedDetails ?? h.cards.approveDetails) });
      if (key.outcome !== 'issued') return;
      const req = order(h, 14000);
      const r = await h.connector.chargeBillingKey(h.channel, key.billingKey, req);
      expect(r).toEqual({
        outcome: 'approved',
        pgTid: expect.stringMatching(/\S{10,}/),
        applyNum: expect.stringMatching(/^\d{8}$/),
        cardQuota: 0,
        paidAt: Math.floor(h.nowMs() / 1000),
        receiptUrl: expect.stringMatching(/^https?:\/\/\S+$/),
        ...h.cards.approveDetails,
      });
      if (r.outcome !== 'approved') return;
      expect(await h.pgRecord(r.pgTid)).toEqual({ status: 'paid', amount: 14000, cancelledAmount: 0 });
    },
  },
  {
    name: 'charges a card by key-in, with installments',
    async run(h) {
      const req = order(h, 60000, 3);
      const r = await h.connector.chargeKeyIn(h.channel, h.cards.approve, req);
      expect(r).toMatchObject({ outcome: 'approved', cardQuota: 3, applyNum: expect.stringMatching(/^\d{8}$/), ...h.cards.approveDetails });
      if (r.outcome !== 'approved') return;
      expect(await h.pgRecord(r.pgTid)).toEqual({ status: 'paid', amount: 60000, cancelledAmount: 0 });
    },
  },
  {
    name: 'each decline reason surfaces its code and message on key-in',
    async run(h) {
      expect(h.cards.declines.length).toBeGreaterThan(0);
      for (const card of h.cards.declines) {
        const r = await h.connector.chargeKeyIn(h.channel, card, order(h, 1000));
        expect({ reason: card.expect.reason, r }).toEqual({
          reason: card.expect.reason,
          r: { outcome: 'declined', code: card.expect.code, message: card.expect.message, pgTid: card.expect.pgTid === null ? null : expect.anything(), stage: card.expect.stage ?? 'approval' },
        });
        if (r.outcome === 'declined' && r.pgTid) expect(await h.pgRecord(r.pgTid)).toMatchObject({ status: 'failed', cancelledAmount: 0 });
      }
    },
  },
  {
    name: 'each decline reason surfaces its code and message at billing-key issuance',
    async run(h) {
      for (const card of h.cards.declines) {
        const r = await h.connector.issueBillingKey(h.channel, card, {});
        expect({ reason: card.expect.reason, r }).toEqual({
          reason: card.expect.reason,
          r: { outcome: 'declined', code: card.expect.code, message: card.expect.message },
        });
      }
    },
  },
  {
    name: 'a key that issued fine declines later charges with the issuer reason',
    async run(h) {
      expect(h.cards.laterDeclines.length).toBeGreaterThan(0);
      for (const card of h.cards.laterDeclines) {
        const key = await h.connector.issueBillingKey(h.channel, card, {});
        expect(key.outcome).toBe('issued');
        if (key.outcome !== 'issued') return;
        const r = await h.connector.chargeBillingKey(h.channel, key.billingKey, order(h, 10000));
        expect({ reason: card.expect.reason, r }).toEqual({
          reason: card.expect.reason,
          r: { outcome: 'declined', code: card.expect.code, message: card.expect.message, pgTid: expect.any(String), stage: card.expect.stage ?? 'approval' },
        });
      }
    },
  },
  {
    name: 'amount and installment rules decline with their codes',
    async run(h) {
      const key = await h.connector.issueBillingKey(h.channel, h.cards.approve, {});
      if (key.outcome !== 'issued') throw new Error('billing key not issued');
      for (const c of h.amountDeclines) {
        const req = order(h, c.amount, c.cardQuota);
        const r =
          c.via === 'keyIn'
            ? await h.connector.chargeKeyIn(h.channel, h.cards.approve, req)
            : await h.connector.chargeBillingKey(h.channel, key.billingKey, req);
        expect({ reason: c.expect.reason, r }).toEqual({
          reason: c.expect.reason,
          r: { outcome: 'declined', code: c.expect.code, message: c.expect.message, pgTid: expect.anything(), stage: c.expect.stage ?? 'approval' },
        });
      }
    },
  },
  {
    name: 'a deleted billing key can no longer be charged, and deleting twice is fine',
    async run(h) {
      const key = await h.connector.issueBillingKey(h.channel, h.cards.approve, {});
      if (key.outcome !== 'issued') throw new Error('billing key not issued');
      await h.connector.deleteBillingKey(h.channel, key.billingKey);
      await h.connector.deleteBillingKey(h.channel, key.billingKey);
      const r = await h.connector.chargeBillingKey(h.channel, key.billingKey, order(h, 1000));
      expect(r).toMatchObject({ outcome: 'declined', code: h.codes.deletedBillingKey });
    },
  },
  {
    name: 'refunds partially, then the rest, then refuses a third refund',
    async run(h) {
      const paid = await approvedKeyIn(h, 10000);
      const r1 = await h.connector.refund(h.channel, { pgTid: paid.pgTid, moid: paid.moid, amount: 3000, partial: true, reason: '부분 환불' });
      expect(r1).toEqual({ outcome: 'refunded', pgCancelTid: expect.any(String), amount: 3000, cancelledAt: Math.floor(h.nowMs() / 1000), receiptUrl: expect.stringMatching(/^https?:\/\/\S+$/) });
      if (r1.outcome === 'refunded') {
        expect(r1.pgCancelTid).not.toBe(paid.pgTid);
        expect(r1.receiptUrl).not.toBe(paid.receiptUrl); // each cancel has its own slip
      }
      expect(await h.pgRecord(paid.pgTid)).toEqual({ status: 'paid', amount: 10000, cancelledAmount: 3000 });
      const r2 = await h.connector.refund(h.channel, { pgTid: paid.pgTid, moid: paid.moid, amount: 7000, partial: false, reason: '전액 환불' });
      expect(r2).toMatchObject({ outcome: 'refunded', amount: 7000 });
      expect(await h.pgRecord(paid.pgTid)).toEqual({ status: 'cancelled', amount: 10000, cancelledAmount: 10000 });
      const r3 = await h.connector.refund(h.channel, { pgTid: paid.pgTid, moid: paid.moid, amount: 1000, partial: true, reason: 'again' });
      expect(r3).toMatchObject({ outcome: 'declined', code: h.codes.alreadyRefunded });
      const found = await h.connector.inquire(h.channel, { moid: paid.moid, pgTid: paid.pgTid, aroundMs: h.nowMs() });
      expect(found).toMatchObject({ found: true, state: 'cancelled', amount: 10000, cancelledAmount: 10000 });
    },
  },
  {
    name: 'an approval and each of its refunds have a slip page a buyer opens without credentials',
    async run(h) {
      const paid = await approvedKeyIn(h, 14000);
      const refund = await h.connector.refund(h.channel, { pgTid: paid.pgTid, moid: paid.moid, amount: 4000, partial: true, reason: '부분 환불' });
      if (refund.outcome !== 'refunded' || !paid.receiptUrl || !refund.receiptUrl) throw new Error('expected receipt URLs on the approval and the refund');
      const slip = await fetch(paid.receiptUrl);
      expect(slip.status).toBe(200);
      const html = await slip.text();
      expect(html).toContain(paid.applyNum);
      expect(html).toContain('14,000');
      expect(html).toContain('4,000'); // the cancel is listed on the original slip
      const cancelSlip = await fetch(refund.receiptUrl);
      expect(cancelSlip.status).toBe(200);
      // tPay's cancel slip shows what is left after the refund; NICE's shows the cancelled amount
      expect(await cancelSlip.text()).toContain(h.cancelSlipShows === 'cancelled' ? '4,000' : '10,000');
      const found = await h.connector.inquire(h.channel, { moid: paid.moid, pgTid: paid.pgTid, aroundMs: h.nowMs() });
      expect(found).toMatchObject({ found: true, receiptUrl: paid.receiptUrl });
    },
  },
  {
    name: 'refuses a refund above the remaining balance',
    async run(h) {
      const paid = await approvedKeyIn(h, 5000);
      const r = await h.connector.refund(h.channel, { pgTid: paid.pgTid, moid: paid.moid, amount: 6000, partial: true, reason: 'too much' });
      expect(r).toEqual({ outcome: 'declined', code: h.codes.overRefund, message: expect.stringMatching(/\S/) });
      expect(await h.pgRecord(paid.pgTid)).toEqual({ status: 'paid', amount: 5000, cancelledAmount: 0 });
    },
  },
  {
    name: 'refuses a refund with a wrong cancel password',
    appliesTo: (h) => h.wrongCancelPassword !== null,
    async run(h) {
      const paid = await approvedKeyIn(h, 5000);
      const r = await h.connector.refund(h.wrongCancelPassword!, { pgTid: paid.pgTid, moid: paid.moid, amount: 5000, partial: false, reason: 'x' });
      expect(r).toEqual({ outcome: 'declined', code: h.codes.wrongCancelPassword, message: expect.stringMatching(/\S/) });
      expect(await h.pgRecord(paid.pgTid)).toEqual({ status: 'paid', amount: 5000, cancelledAmount: 0 });
    },
  },
  {
    name: 'a read timeout is in doubt, and inquiry then finds the approval',
    async run(h) {
      const req = order(h, 7000);
      await expectConnectorError(h.connector.chargeKeyIn(h.channel, h.cards.timeout, req), 'timeout', true);
      // The PG records the charge and holds its answer, but on a loaded machine the connector can
      // give up before the PG has read the request. The inquiry, on a connection of its own, could
      // then be handled first and rightly find nothing: in doubt, reconciliation asks again later.
      // This scenario is about the inquiry after the PG has the charge, so it waits for that.
      await waitFor(() => h.pgHasOrder(req.moid), 10_000, `the PG to record order ${req.moid}`);
      const found = await h.connector.inquire(h.channel, { moid: req.moid, pgTid: null, aroundMs: h.nowMs() });
      expect(found).toEqual({
        found: true,
        state: 'paid',
        pgTid: expect.any(String),
        amount: 7000,
        cancelledAmount: 0,
        applyNum: expect.stringMatching(/^\d{8}$/),
        paidAt: Math.floor(h.nowMs() / 1000),
        cardQuota: 0,
        receiptUrl: expect.stringMatching(/^https?:\/\/\S+$/),
        cardCode: expect.any(String),
        cardName: expect.any(String),
        cardNumberMasked: expect.any(String),
        cardType: expect.any(Number),
        // a PG that names the method names a card (decision 0085)
        ...('payMethod' in found ? { payMethod: 'card' } : {}),
        // a PG that stamps its answers stamps this one now, by its clock (decision 0087)
        ...('answeredAt' in found ? { answeredAt: Math.floor(h.nowMs() / 1000) } : {}),
        // a PG that says whether it is an escrow payment says it is not (decision 0086)
        ...('escrow' in found ? { escrow: false } : {}),
      });
      if (found.found) expect(await h.pgRecord(found.pgTid)).toEqual({ status: 'paid', amount: 7000, cancelledAmount: 0 });
    },
  },
  {
    name: 'inquiry reports an unknown moid as not found, and a declined attempt as failed',
    async run(h) {
      expect(await h.connector.inquire(h.channel, { moid: h.newMoid(), aroundMs: h.nowMs() })).toEqual({ found: false });
      const req = order(h, 1000);
      const declined = await h.connector.chargeKeyIn(h.channel, h.cards.declines[0]!, req);
      expect(declined.outcome).toBe('declined');
      const found = await h.connector.inquire(h.channel, { moid: req.moid, aroundMs: h.nowMs() });
      if (h.declinedAttempt === 'not_found') expect(found).toEqual({ found: false });
      else expect(found).toMatchObject({ found: true, state: 'failed', amount: 1000, applyNum: null });
    },
  },
  {
    name: 'a PG system error is a decline with the PG code',
    async run(h) {
      const req = order(h, 1000);
      const r = await h.connector.chargeKeyIn(h.channel, h.cards.systemError, req);
      expect(r).toEqual({
        outcome: 'declined',
        code: h.cards.systemError.expect.code,
        message: h.cards.systemError.expect.message,
        pgTid: h.cards.systemError.expect.pgTid === null ? null : expect.anything(),
        stage: 'approval',
      });
      const found = await h.connector.inquire(h.channel, { moid: req.moid, aroundMs: h.nowMs() });
      if (h.declinedAttempt === 'not_found') expect(found).toEqual({ found: false });
      else expect(found).toMatchObject({ found: true, state: 'failed' });
    },
  },
  {
    name: 'a connect failure is not in doubt and reached nothing',
    async run(h) {
      const req = order(h, 1000);
      const err = await expectConnectorError(h.unreachable.chargeKeyIn(h.channel, h.cards.approve, req), 'connect', false);
      expect(err.retryable).toBe(true);
      expect(await h.connector.inquire(h.channel, { moid: req.moid, aroundMs: h.nowMs() })).toEqual({ found: false });
    },
  },
  {
    name: 'an HTTP 5xx is in doubt (here nothing was processed)',
    async run(h) {
      if (!h.faults) throw new Error('this scenario needs the harness to provide the simulator fault hook (faults)');
      await h.faults.http500();
      const req = order(h, 1000);
      const err = await expectConnectorError(h.connector.chargeKeyIn(h.channel, h.cards.approve, req), 'http_status', true);
      expect(err.message).toContain('500');
      expect(await h.connector.inquire(h.channel, { moid: req.moid, aroundMs: h.nowMs() })).toEqual({ found: false });
    },
  },
  {
    name: 'an unparsable answer is in doubt, and inquiry finds the approval',
    async run(h) {
      if (!h.faults) throw new Error('this scenario needs the harness to provide the simulator fault hook (faults)');
      await h.faults.badBody();
      const req = order(h, 2000);
      await expectConnectorError(h.connector.chargeKeyIn(h.channel, h.cards.approve, req), 'bad_response', true);
      expect(await h.connector.inquire(h.channel, { moid: req.moid, aroundMs: h.nowMs() })).toMatchObject({ found: true, state: 'paid', amount: 2000 });
    },
  },
  {
    name: 'a connection dropped after sending is in doubt, and inquiry finds the approval',
    appliesTo: (h) => !!h.faults?.reset,
    async run(h) {
      if (!h.faults?.reset) throw new Error('this scenario needs the harness to provide the simulator fault hook (faults.reset)');
      await h.faults.reset();
      const req = order(h, 3000);
      const err = await expectConnectorError(h.connector.chargeKeyIn(h.channel, h.cards.approve, req), 'bad_response', true);
      expect(err.retryable).toBe(false);
      expect(await h.connector.inquire(h.channel, { moid: req.moid, aroundMs: h.nowMs() })).toMatchObject({ found: true, state: 'paid', amount: 3000 });
    },
  },
];
