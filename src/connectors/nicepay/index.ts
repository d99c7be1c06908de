/**
 * The NICEPAY connector (NICE Payments "Start API", spec/nicepay.md): V1 `pg: 'nice_v2'`.
 *
 * @example
 *   const nice = nicepayModule.create({ ...nicepayModule.defaults, sandboxUrl: 'http://127.0.0.1:8092' }, { clock });
 *   await nice.inquire({ mid: clientId, merchantKey: new Secret(secretKey), cancelPassword: new Secret(''), sandbox: true }, { moid, aroundMs });
 */
import Type from 'typebox';
import type { Clock } from '../../lib/clock.js';
import { MAX_DURATION_MS } from '../../lib/clock.js';
import type { Connector, ConnectorBaseOptions, ConnectorModule } from '../types.js';
import { nicepayChannelRules } from './channel-rules.js';
import { createNicepayRestConnector } from './connector.js';
import { createNicepayWindow } from './window.js';

/** NICE's hosts (spec §0.2). */
export const NICE_HOSTS = {
  live: 'https://api.nicepay.co.kr',
  sandbox: 'https://sandbox-api.nicepay.co.kr',
  /** the JS SDK; the key (S… or R…) selects sandbox or live (spec §0.2) */
  sdk: 'https://pay.nicepay.co.kr/v1/js/',
} as const;

/** `connectors.nice_v2` in Pier's configuration. */
export interface NicepaySettings extends ConnectorBaseOptions {
  /** API host for live channels (spec §0.2) */
  liveUrl: string;
  /** API host for sandbox channels; empty = the embedded simulator when Pier runs one, else NICE's sandbox */
  sandboxUrl: string;
  /** the JS SDK buyers' browsers load; empty = the embedded simulator's when Pier runs one, else NICE's */
  sdkUrl: string;
}

/** What the connector is built with: the settings resolved against the embedded simulator, if any. */
export interface NicepayConnectorOptions extends ConnectorBaseOptions {
  liveUrl: string;
  sandboxUrl: string;
  sdkUrl: string;
  clock?: Clock;
}

export { NICEPAY_CAPABILITIES } from './connector.js';

export function createNicepayConnector(opts: NicepayConnectorOptions): Connector & { close(): Promise<void> } {
  const rest = createNicepayRestConnector(opts);
  return {
    ...rest,
    // the window's methods (spec §0.9): card, bank transfer, virtual account, phone
    capabilities: { ...rest.capabilities, windowPayMethods: ['card', 'trans', 'vbank', 'phone'] },
    window: createNicepayWindow({ sdkUrl: opts.sdkUrl, send: rest.send, clock: opts.clock }),
  };
}

/** The NICEPAY connector as Pier's registry builds it (registry.ts). */
export const nicepayModule: ConnectorModule<NicepaySettings, 'nice_v2'> = {
  provider: 'nice_v2',
  label: 'NICE페이먼츠',
  schema: Type.Object({
    liveUrl: Type.String({ pattern: '^https?://\\S+$' }),
    sandboxUrl: Type.String({ pattern: '^(https?://\\S+)?$' }),
    sdkUrl: Type.String({ pattern: '^(https?://\\S+)?$' }),
    connectTimeoutMs: Type.Integer({ minimum: 1, maximum: MAX_DURATION_MS }),
    readTimeoutMs: Type.Integer({ minimum: 1, maximum: MAX_DURATION_MS }),
  }),
  // spec §0.7: connect 5 s, read 30 s
  defaults: { liveUrl: NICE_HOSTS.live, sandboxUrl: '', sdkUrl: '', connectTimeoutMs: 5000, readTimeoutMs: 30000 },
  env: {
    PIER_NICE_LIVE_URL: { key: 'liveUrl', type: 'string' },
    PIER_NICE_SANDBOX_URL: { key: 'sandboxUrl', type: 'string' },
    PIER_NICE_SDK_URL: { key: 'sdkUrl', type: 'string' },
    PIER_NICE_CONNECT_TIMEOUT_MS: { key: 'connectTimeoutMs', type: 'int' },
    PIER_NICE_READ_TIMEOUT_MS: { key: 'readTimeoutMs', type: 'int' },
  },
  channelRules: nicepayChannelRules,
  // never left out: NICE's public hosts are the defaults
  setupHint: 'set PIER_NICE_LIVE_URL / PIER_NICE_SANDBOX_URL',
  // NICE's own sandbox (the default without a simulator) has no simulator tools
  sandboxHost: (settings, context) => settings.sandboxUrl || context.simulator?.apiUrl || null,
  // key-in registers a throw-away billing key, then charges it (decision 0014); a refund NICE refuses
  // with U319 is sent again all taxable (decision 0081)
  callsPerOperation: 2,
  create(settings, context) {
    const sim = context.simulator;
    return createNicepayConnector({
      ...settings,
      sandboxUrl: settings.sandboxUrl || sim?.apiUrl || NICE_HOSTS.sandbox,
      sdkUrl: settings.sdkUrl || (sim ? `${sim.publicUrl.replace(/\/+$/, '')}/v1/js/` : NICE_HOSTS.sdk),
      clock: context.clock,
    });
  },
};
