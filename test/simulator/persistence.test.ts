import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createJtnetConnector } from '../../src/connectors/jtnet/index.js';
import type { ChannelCredentials } from '../../src/connectors/types.js';
import type { CardInput } from '../../src/lib/card.js';
import { ManualClock } from '../../src/lib/clock.js';
import { Secret } from '../../src/lib/secret.js';
import { createTpaySimulator, TPAY_TEST_ACCOUNTS } from '../../src/simulators/jtnet/app.js';
import { testCardNumber } from '../../src/simulators/jtnet/test-cards.js';

const BILLING = TPAY_TEST_ACCOUNTS[2]!;
const channel: ChannelCredentials = {
  mid: BILLING.mid,
  merchantKey: new Secret(BILLING.merchantKey),
  cancelPassword: new Secret('1234'),
};
const card = (lastFour: string, extra: Partial<CardInput> = {}): CardInput => ({
  number: testCardNumber({ kftcCode: '381', lastFour }),
  expiryYear: 2030,
  expiryMonth: 12,
  birth: '900101',
  pwd2digit: '12',
  cvc: '123',
  ...extra,
});
const order = (moid: string, amount = 1000) => ({ moid, amount, goodsName: '정기결제', cardQuota: 0, buyer: {} });

let dir: string;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the simulator ledger on disk', () => {
  it('keeps billing keys and approvals across a restart', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tpay-sim-'));
    const dbFile = join(dir, 'ledger.db');
    const clock = new ManualClock(Date.UTC(2026, 0, 15, 3, 0, 0));

    const first = createTpaySimulator({ dbFile, clock });
    const c1 = createJtnetConnector({ baseUrl: await first.listen({ host: '127.0.0.1', port: 0 }), connectTimeoutMs: 1000, readTimeoutMs: 2000 });
    const key = await c1.issueBillingKey(channel, card('4242'), {});
    if (key.outcome !== 'issued') throw new Error('not issued');
    const paid = await c1.chargeBillingKey(channel, key.billingKey, order('imp_000000000001'));
    expect(paid.outcome).toBe('approved');
    await c1.close();
    await first.close();

    clock.advance(86_400_000);
    const second = createTpaySimulator({ dbFile, clock });
    const c2 = createJtnetConnector({ baseUrl: await second.listen({ host: '127.0.0.1', port: 0 }), connectTimeoutMs: 1000, readTimeoutMs: 2000 });
    try {
      const again = await c2.chargeBillingKey(channel, key.billingKey, order('imp_000000000002', 2000));
      expect(again).toMatchObject({ outcome: 'approved', cardCode: '381', cardName: 'KB국민카드', cardNumberMasked: '938100******4242' });
      // the approval from before the restart is still there, and still unique by moid
      const dup = await c2.chargeBillingKey(channel, key.billingKey, order('imp_000000000001'));
      expect(dup).toMatchObject({ outcome: 'declined', code: 'A127' });
      if (paid.outcome === 'approved') {
        const r = await c2.refund(channel, { pgTid: paid.pgTid, moid: 'imp_000000000001', amount: 1000, partial: false, reason: 'x' });
        expect(r).toMatchObject({ outcome: 'refunded', amount: 1000 });
      }
    } finally {
      await c2.close();
      await second.close();
    }
  });

  it('never writes a full card number to its SQLite file or its log', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tpay-sim-'));
    const dbFile = join(dir, 'ledger.db');
    const clock = new ManualClock(Date.UTC(2026, 0, 15, 3, 0, 0));
    const lines: string[] = [];
    const sim = createTpaySimulator({
      dbFile,
      clock,
      slowResponseMs: 30_000,
      logger: { level: 'trace', stream: { write: (line: string) => void lines.push(line) } },
    });
    const baseUrl = await sim.listen({ host: '127.0.0.1', port: 0 });
    const connector = createJtnetConnector({ baseUrl, connectTimeoutMs: 1000, readTimeoutMs: 300 });
    const cards = [
      card('4242'),
      card('0054'),
      card('1026'),
      card('0098'),
      card('0099'),
      card('7777', { expiryYear: 2020 }),
      { ...card('4242'), number: testCardNumber({ kftcCode: '381', lastFour: '5555' }).slice(0, 15) + '0' },
      { ...card('4242'), number: testCardNumber({ prefix: '411111', lastFour: '1111' }) },
    ];
    let n = 0;
    try {
      for (const c of cards) {
        const key = await connector.issueBillingKey(channel, c, {}).catch((e: Error) => e);
        const charge = await connector.chargeKeyIn(channel, c, order(`imp_1000000000${String(++n).padStart(2, '0')}`)).catch((e: Error) => e);
        if (!(key instanceof Error) && key.outcome === 'issued') {
          await connector.chargeBillingKey(channel, key.billingKey, order(`imp_2000000000${String(n).padStart(2, '0')}`)).catch((e: Error) => e);
          if (!(charge instanceof Error) && charge.outcome === 'approved') {
            await connector.refund(channel, { pgTid: charge.pgTid, moid: `imp_1000000000${String(n).padStart(2, '0')}`, amount: 500, partial: true, reason: 'x' });
          }
        }
      }
      // the held 0098 answers were abandoned by the client; the simulator notices
      await vi.waitFor(async () => {
        const res = await fetch(`${baseUrl}/__control/holds`);
        expect(await res.json()).toEqual({ held: 0 });
      });
      const ledgerText = await (await fetch(`${baseUrl}/__ledger`)).text();
      for (const c of cards) expect(ledgerText).not.toContain(c.number);
      expect(ledgerText).toContain('938100******4242');
    } finally {
      await connector.close();
      await sim.close();
    }

    const files = [dbFile, `${dbFile}-wal`, `${dbFile}-shm`].filter((f) => existsSync(f));
    const stored = files.map((f) => readFileSync(f).toString('latin1')).join('\n');
    expect(stored).toContain('938100******4242'); // the file is readable and does hold the masked numbers
    const log = lines.join('');
    expect(log).toContain('938100******4242');
    expect(log).toContain('client left before the held answer');
    for (const c of cards) {
      expect(stored).not.toContain(c.number);
      expect(log).not.toContain(c.number);
    }
    expect(log).not.toContain(BILLING.merchantKey);
  });
});
