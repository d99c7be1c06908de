import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createConnectorRegistry, type ConnectorRegistry } from '../../src/connectors/registry.js';
import { createJtnetConnector, JTNET_CAPABILITIES } from '../../src/connectors/jtnet/index.js';
import { ConnectorError } from '../../src/connectors/types.js';
import { Secret } from '../../src/lib/secret.js';
import { createTpaySimulator, TPAY_TEST_ACCOUNTS } from '../../src/simulators/jtnet/app.js';

let sim: FastifyInstance;
let baseUrl: string;
let registry: ConnectorRegistry;

beforeAll(async () => {
  sim = createTpaySimulator();
  baseUrl = await sim.listen({ host: '127.0.0.1', port: 0 });
  registry = createConnectorRegistry({ jtnet: { baseUrl, connectTimeoutMs: 1000, readTimeoutMs: 2000 } });
});
afterAll(async () => {
  await registry.close();
  await sim.close();
});

describe('connector registry', () => {
  it('lists jtnet and nice_v2 and nothing else, and knows no other provider', () => {
    expect(registry.providers()).toEqual(['jtnet', 'nice_v2']);
    expect(registry.get('nice')).toBeUndefined();
    expect(registry.get('jtnet')?.provider).toBe('jtnet');
  });

  it('leaves out a PG its configuration does not set up (JTNET without a host or simulator), listing how to set it up (decision 0079)', async () => {
    const niceOnly = createConnectorRegistry({});
    try {
      expect(niceOnly.providers()).toEqual(['nice_v2']);
      expect(niceOnly.get('jtnet')).toBeUndefined();
      expect(niceOnly.unconfigured()).toEqual([{ provider: 'jtnet', label: 'JTNet(tPay)', setupHint: 'set PIER_JTNET_URL (connectors.jtnet.baseUrl) to the tPay host' }]);
      // its rules and name stay known, for the messages that say it is not configured
      expect(niceOnly.label('jtnet')).toBe('JTNet(tPay)');
      // only NICE's calls can be in flight: its connect 5 s + read 30 s
      expect(niceOnly.maxCallMs()).toBe(35_000);
      // and a key-in or a refund of NICE's makes two, one after the other (decision 0099)
      expect(niceOnly.maxOperationMs()).toBe(70_000);
    } finally {
      await niceOnly.close();
    }
    // an embedded simulator configures it
    const sandbox = createConnectorRegistry({}, { simulators: { jtnet: { apiUrl: baseUrl, publicUrl: baseUrl } } });
    try {
      expect(sandbox.providers()).toEqual(['jtnet', 'nice_v2']);
      expect(sandbox.unconfigured()).toEqual([]);
    } finally {
      await sandbox.close();
    }
  });

  it('gives jtnet the capabilities of spec §1.2', () => {
    expect(registry.get('jtnet')?.capabilities).toEqual({
      windowPayMethods: ['card', 'trans', 'vbank', 'phone'],
      keyIn: true,
      billingKey: true,
      partialCancel: { card: true, trans: true, vbank: true, phone: false },
      vbankApi: false,
      cashReceipts: false,
      escrowLogistics: false,
    });
    expect(JTNET_CAPABILITIES.keyIn).toBe(true);
  });

  it('builds a working connector from the config', async () => {
    const a = TPAY_TEST_ACCOUNTS[1]!;
    const r = await registry.get('jtnet')!.inquire(
      { mid: a.mid, merchantKey: new Secret(a.merchantKey), cancelPassword: new Secret('123456') },
      { moid: 'imp_nothing', aroundMs: Date.now() },
    );
    expect(r).toEqual({ found: false });
  });
});

describe('JTNET client HTTP status handling', () => {
  it('a 4xx (a proxy in front of tPay may have forwarded the request) is an http_status error that is in doubt', async () => {
    const c = createJtnetConnector({ baseUrl: `${baseUrl}/wrong-prefix/`, connectTimeoutMs: 1000, readTimeoutMs: 2000 });
    try {
      const a = TPAY_TEST_ACCOUNTS[1]!;
      const err = await c
        .inquire({ mid: a.mid, merchantKey: new Secret(a.merchantKey), cancelPassword: new Secret('x') }, { moid: 'imp_1', aroundMs: 0 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectorError);
      expect([(err as ConnectorError).kind, (err as ConnectorError).inDoubt, (err as ConnectorError).message]).toEqual([
        'http_status',
        true,
        'tPay trans_search: HTTP 404',
      ]);
    } finally {
      await c.close();
    }
  });
});
