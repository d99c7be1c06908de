/**
 * The JTNET (tPay) connector.
 *
 * @example
 *   const jtnet = createJtnetConnector({ baseUrl: 'http://127.0.0.1:8091', connectTimeoutMs: 3000, readTimeoutMs: 30000 });
 *   const r = await jtnet.chargeBillingKey(channel, billingKey, { moid: 'imp_123456789012', amount: 1000, goodsName: '정기결제', cardQuota: 0, buyer: {} });
 *   if (r.outcome === 'approved') r.pgTid;
 */
import Type from 'typebox';
import type { Clock } from '../../lib/clock.js';
import { MAX_DURATION_MS, systemClock, unixSeconds } from '../../lib/clock.js';
import type { ChannelCredentials, Connector, ConnectorBaseOptions, ConnectorCapabilities, ConnectorModule, DepositNotice, WindowConnector, WindowForm, WindowRequest } from '../types.js';
import { ConnectorError } from '../types.js';
import { jtnetChannelRules } from './channel-rules.js';
import { TpayClient } from './client.js';
import { fromDepositNotice, fromWindowResult, stringFields, toWebTxInitForm, type WindowUrls } from './window.js';
import {
  asTpayResponse,
  fromBillkeySearchResponse,
  fromGenBillkeyResponse,
  fromPaymentResponse,
  fromRefundsResponse,
  fromTransSearchResponse,
  toDelBillkeyRequest,
  toGenBillkeyRequest,
  toPaymentsRequest,
  toPaymentsTokenRequest,
  toRefundsRequest,
  toTransSearchRequest,
  TPAY_NO_BILLKEY,
  TPAY_OK,
  type TpayBillkeySearchResponse,
  type TpayDelBillkeyResponse,
  type TpayGenBillkeyResponse,
  type TpayPaymentResponse,
  type TpayRefundsResponse,
  type TpayTransSearchResponse,
} from './transformers.js';

export interface JtnetConnectorOptions extends ConnectorBaseOptions {
  /** tPay host without `/api/v1`, e.g. `https://webtx.tpay.co.kr` or the simulator's address */
  baseUrl: string;
  connectTimeoutMs: number;
  /** read timeout per request; past it the call fails with ConnectorError kind `timeout`, inDoubt */
  readTimeoutMs: number;
  /** fallback time source when tPay's answer carries no timestamp, and the window's ediDate (default: system clock) */
  clock?: Clock;
  /**
   * where the buyer's browser opens the window; default `{baseUrl}/webTxInit` (PC) and
   * `{baseUrl}/mobile/webTxInit` (mobile), the simulator's paths. Real tPay: `https://webtx.tpay.co.kr/webTxInit`
   * and `https://mtx.tpay.co.kr/webTxInit`.
   */
  windowUrls?: Partial<WindowUrls>;
}

/** What JTNET can do through PortOne (spec §1.2). */
export const JTNET_CAPABILITIES: ConnectorCapabilities = {
  windowPayMethods: ['card', 'trans', 'vbank', 'phone'],
  keyIn: true,
  billingKey: true,
  partialCancel: { card: true, trans: true, vbank: true, phone: false },
  vbankApi: false,
  cashReceipts: false,
  escrowLogistics: false,
};

/** tPay's window: always a form to post (webTxInit); deposit notices are readable by themselves too. */
export interface JtnetWindow extends WindowConnector {
  startWindow(channel: ChannelCredentials, req: WindowRequest): Extract<WindowForm, { kind: 'form' }>;
  readDepositNotice(channel: ChannelCredentials, posted: Record<string, string>): DepositNotice;
}

export interface JtnetConnector extends Connector {
  readonly window: JtnetWindow;
  /** closes the HTTP connection pool */
  close(): Promise<void>;
}

export function createJtnetConnector(opts: JtnetConnectorOptions): JtnetConnector {
  const client = new TpayClient(opts);
  const clock = opts.clock ?? systemClock;
  const base = opts.baseUrl.replace(/\/+$/, '');
  const windowUrls: WindowUrls = {
    pc: opts.windowUrls?.pc ?? `${base}/webTxInit`,
    mobile: opts.windowUrls?.mobile ?? `${base}/mobile/webTxInit`,
  };

  return {
    provider: 'jtnet',
    capabilities: JTNET_CAPABILITIES,

    async issueBillingKey(channel, card, holder) {
      const raw = await client.post('gen_billkey', toGenBillkeyRequest(channel, card, holder));
      return fromGenBillkeyResponse(asTpayResponse<TpayGenBillkeyResponse>(raw));
    },

    async deleteBillingKey(channel, billingKey) {
      const r = asTpayResponse<TpayDelBillkeyResponse>(await client.post('del_billkey', toDelBillkeyRequest(channel, billingKey)));
      // A key tPay no longer knows is as deleted as it gets.
      if (r.result_cd === TPAY_OK || r.result_cd === TPAY_NO_BILLKEY) return;
      throw new ConnectorError('bad_response', `tPay del_billkey refused: ${r.result_cd} ${r.result_msg ?? ''}`.trim(), false, false);
    },

    async chargeKeyIn(channel, card, req) {
      const raw = await client.post('payments', toPaymentsRequest(channel, card, req));
      return fromPaymentResponse(asTpayResponse<TpayPaymentResponse>(raw), req, channel.mid, unixSeconds(clock));
    },

    async chargeBillingKey(channel, billingKey, req) {
      const raw = await client.post('payments_token', toPaymentsTokenRequest(channel, billingKey, req));
      return fromPaymentResponse(asTpayResponse<TpayPaymentResponse>(raw), req, channel.mid, unixSeconds(clock));
    },

    async refund(channel, req) {
      const raw = await client.post('refunds', toRefundsRequest(channel, req));
      return fromRefundsResponse(asTpayResponse<TpayRefundsResponse>(raw), req, unixSeconds(clock));
    },

    // tPay closes an issued, unpaid virtual account with a full refund (no refund account needed)
    async revokeVbank(channel, req) {
      const full = { ...req, partial: false };
      const raw = await client.post('refunds', toRefundsRequest(channel, full));
      return fromRefundsResponse(asTpayResponse<TpayRefundsResponse>(raw), full, unixSeconds(clock));
    },

    async inquireBillingKey(channel, billingKey) {
      const raw = await client.post('billkey_search', toDelBillkeyRequest(channel, billingKey));
      return fromBillkeySearchResponse(asTpayResponse<TpayBillkeySearchResponse>(raw));
    },

    async inquire(channel, q) {
      const raw = await client.post('trans_search', toTransSearchRequest(channel, q));
      return fromTransSearchResponse(asTpayResponse<TpayTransSearchResponse>(raw), channel.mid, q);
    },

    window: {
      startWindow: (channel, req) => toWebTxInitForm(channel, req, windowUrls, clock.now()),
      readWindowResult: (channel, posted, expected) => fromWindowResult(channel, posted, expected),
      async confirmWindowResult(_channel, pgTid) {
        const r = (await client.postTo('/resultConfirm', 'resultConfirm', { tid: pgTid, result: '000' })) as { result_cd?: unknown; result_msg?: unknown } | null;
        if (!r || typeof r !== 'object' || r.result_cd !== TPAY_OK) {
          throw new ConnectorError('bad_response', `tPay resultConfirm refused: ${String(r?.result_cd ?? '?')} ${String(r?.result_msg ?? '')}`.trim(), false, false);
        }
      },
      readDepositNotice: (channel, posted) => fromDepositNotice(channel, posted),
      readNotice: (channel, body) => ({ kind: 'deposit', deposit: fromDepositNotice(channel, stringFields(body)) }),
    },

    ping: (deadlineMs) => client.ping(deadlineMs),

    close: () => client.close(),
  };
}

/** `connectors.jtnet` in Pier's configuration. */
export interface JtnetSettings extends ConnectorBaseOptions {
  /** tPay host without `/api/v1`; empty = the embedded simulator */
  baseUrl: string;
}

/** The JTNET connector as Pier's registry builds it (registry.ts). */
export const jtnetModule: ConnectorModule<JtnetSettings, 'jtnet'> = {
  provider: 'jtnet',
  label: 'JTNet(tPay)',
  schema: Type.Object({
    /** tPay REST base URL; empty = the embedded simulator */
    baseUrl: Type.String(),
    connectTimeoutMs: Type.Integer({ minimum: 1, maximum: MAX_DURATION_MS }),
    readTimeoutMs: Type.Integer({ minimum: 1, maximum: MAX_DURATION_MS }),
  }),
  defaults: { baseUrl: '', connectTimeoutMs: 3000, readTimeoutMs: 30000 },
  env: {
    PIER_JTNET_URL: { key: 'baseUrl', type: 'string' },
    PIER_JTNET_CONNECT_TIMEOUT_MS: { key: 'connectTimeoutMs', type: 'int' },
    PIER_JTNET_READ_TIMEOUT_MS: { key: 'readTimeoutMs', type: 'int' },
  },
  channelRules: jtnetChannelRules,
  setupHint: 'set PIER_JTNET_URL (connectors.jtnet.baseUrl) to the tPay host',
  // tPay closed in 2023: its only host now is a simulator, embedded or named by PIER_JTNET_URL
  sandboxHost: (settings, context) => settings.baseUrl || context.simulator?.apiUrl || null,
  create(settings, context) {
    const baseUrl = settings.baseUrl || context.simulator?.apiUrl;
    // tPay closed in 2023: a production Pier is usually NICE-only and has no tPay host to give
    if (!baseUrl) return null;
    // buyers open the embedded simulator's window at its public address, which may differ from where Pier calls it
    const publicBase = !settings.baseUrl && context.simulator ? context.simulator.publicUrl.replace(/\/+$/, '') : '';
    const windowUrls = publicBase && publicBase !== baseUrl.replace(/\/+$/, '') ? { pc: `${publicBase}/webTxInit`, mobile: `${publicBase}/mobile/webTxInit` } : undefined;
    return createJtnetConnector({ ...settings, baseUrl, clock: context.clock, windowUrls });
  },
};
