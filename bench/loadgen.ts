/**
 * The load generator, run in its own process (forked by bench/run.ts, IPC for orders and results).
 * Drives autocannon at a fixed concurrency. Every request carries a unique merchant_uid (moid for
 * the simulator); every response body is checked for V1 `code` 0 and a sample is parsed in full
 * (status `paid`, the merchant_uid that was sent). Anything else counts as an error.
 */
import autocannon, { type AutocannonRequest, type AutocannonResult } from 'autocannon';
import { againBody, simulatorChargeForm } from './lib/requests.js';

export type LoadKind = 'again' | 'onetime' | 'get' | 'bare' | 'sim' | 'webhook';

export interface LoadSpec {
  label: string;
  kind: LoadKind;
  /** base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  token?: string;
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** prefix of every merchant_uid / moid; a counter follows */
  uidPrefix: string;
  /** `again`: the customer_uids to charge, round robin */
  customerUids?: string[];
  /** `get`: the imp_uids to read, round robin */
  impUids?: string[];
  /** `onetime`: the card */
  card?: { card_number: string; expiry: string; birth: string; pwd_2digit: string };
  /** `sim`: tPay account and billing key */
  sim?: { mid: string; apiKey: string; cardToken: string };
  /** parse one response in this many in full */
  sampleEvery: number;
  /** `again`: collect up to this many imp_uids of paid payments (for the `get` phase) */
  collectImpUids?: number;
}

export interface LoadResult {
  label: string;
  kind: LoadKind;
  connections: number;
  durationSec: number;
  requests: number;
  rps: number;
  ok: number;
  okPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  errors: { total: number; transport: number; timeouts: number; non2xx: number; codeNot0: number; sampleMismatch: number; examples: string[] };
  sampled: number;
  impUids: string[];
}

type Msg = { type: 'run'; spec: LoadSpec } | { type: 'exit' };

function requestsFor(spec: LoadSpec, prefix: string, tally: Tally): AutocannonRequest[] {
  let n = 0;
  const nextUid = () => `${prefix}${++n}`;
  const auth: Record<string, string> = spec.token ? { authorization: `Bearer ${spec.token}` } : {};
  const json = { 'content-type': 'application/json', ...auth };
  const v1Check = (status: number, body: string, context: Record<string, unknown>) => {
    tally.responses++;
    if (status < 200 || status > 299) return tally.fail('non2xx', `HTTP ${status}: ${body.slice(0, 200)}`);
    if (!body.startsWith('{"code":0,')) return tally.fail('codeNot0', body.slice(0, 200));
    if (spec.kind === 'again' && spec.collectImpUids && tally.impUids.length < spec.collectImpUids && tally.responses % 2 === 0) {
      const at = body.indexOf('"imp_uid":"');
      if (at >= 0) tally.impUids.push(body.slice(at + 11, body.indexOf('"', at + 11)));
    }
    if (tally.responses % spec.sampleEvery !== 0) return;
    tally.sampled++;
    let r: { response?: { status?: string; merchant_uid?: string; imp_uid?: string } };
    try {
      r = JSON.parse(body);
    } catch {
      return tally.fail('sampleMismatch', `not JSON: ${body.slice(0, 200)}`);
    }
    if (spec.kind === 'bare') return;
    const p = r.response;
    if (p?.status !== 'paid') return tally.fail('sampleMismatch', `status ${p?.status}: ${body.slice(0, 300)}`);
    if (spec.kind === 'get' ? p.imp_uid !== context.impUid : p.merchant_uid !== context.uid) {
      tally.fail('sampleMismatch', `answer for another request (sent ${String(context.uid ?? context.impUid)}): ${body.slice(0, 200)}`);
    }
  };

  switch (spec.kind) {
    case 'again': {
      const customers = spec.customerUids!;
      return [
        {
          method: 'POST',
          path: '/subscribe/payments/again',
          headers: json,
          setupRequest: (req, context) => {
            const uid = nextUid();
            context.uid = uid;
            req.body = againBody(customers[n % customers.length], uid);
            return req;
          },
          onResponse: v1Check,
        },
      ];
    }
    case 'onetime':
      return [
        {
          method: 'POST',
          path: '/subscribe/payments/onetime',
          headers: json,
          setupRequest: (req, context) => {
            const uid = nextUid();
            context.uid = uid;
            req.body = JSON.stringify({ merchant_uid: uid, amount: 1000, name: 'bench onetime', ...spec.card });
            return req;
          },
          onResponse: v1Check,
        },
      ];
    case 'get': {
      const ids = spec.impUids!;
      if (ids.length === 0) throw new Error('get: no imp_uids to read');
      return [
        {
          method: 'GET',
          headers: auth,
          setupRequest: (req, context) => {
            const id = ids[n++ % ids.length];
            context.impUid = id;
            req.path = `/payments/${id}`;
            return req;
          },
          onResponse: v1Check,
        },
      ];
    }
    case 'bare':
      return [
        {
          method: 'POST',
          path: '/subscribe/payments/again',
          headers: json,
          setupRequest: (req, context) => {
            const uid = nextUid();
            context.uid = uid;
            req.body = againBody('bench_customer_0', uid);
            return req;
          },
          onResponse: v1Check,
        },
      ];
    case 'webhook':
      // what Pier posts to a notice_url; the receiver answers any 2xx
      return [
        {
          method: 'POST',
          path: '/webhook',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => {
            req.body = JSON.stringify({ imp_uid: `imps_${nextUid()}`, merchant_uid: nextUid(), status: 'paid' });
            return req;
          },
          onResponse: (status, body) => {
            tally.responses++;
            if (status < 200 || status > 299) tally.fail('non2xx', `HTTP ${status}: ${body.slice(0, 200)}`);
          },
        },
      ];
    case 'sim': {
      const s = spec.sim!;
      return [
        {
          method: 'POST',
          path: '/api/v1/payments_token',
          headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
          setupRequest: (req, context) => {
            const uid = nextUid();
            context.uid = uid;
            req.body = simulatorChargeForm(s, uid);
            return req;
          },
          onResponse: (status, body, context) => {
            tally.responses++;
            if (status !== 200) return tally.fail('non2xx', `HTTP ${status}: ${body.slice(0, 200)}`);
            if (!body.includes('"result_cd":"0000"')) return tally.fail('codeNot0', body.slice(0, 200));
            if (tally.responses % spec.sampleEvery !== 0) return;
            tally.sampled++;
            const r = JSON.parse(body) as { moid?: string };
            if (r.moid !== context.uid) tally.fail('sampleMismatch', `moid ${r.moid} for ${String(context.uid)}`);
          },
        },
      ];
    }
  }
}

class Tally {
  responses = 0;
  sampled = 0;
  codeNot0 = 0;
  non2xx = 0;
  sampleMismatch = 0;
  examples: string[] = [];
  impUids: string[] = [];
  fail(kind: 'codeNot0' | 'non2xx' | 'sampleMismatch', example: string) {
    this[kind]++;
    if (this.examples.length < 5) this.examples.push(example);
  }
}

function runOnce(spec: LoadSpec, durationSec: number, prefix: string, tally: Tally, progress: boolean): Promise<AutocannonResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const inst = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: durationSec,
        pipelining: 1,
        timeout: 30,
        requests: requestsFor(spec, prefix, tally),
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    if (progress) {
      inst.on('tick', () => {
        const errors = tally.codeNot0 + tally.non2xx + tally.sampleMismatch;
        process.send?.({ type: 'progress', label: spec.label, elapsedSec: (Date.now() - started) / 1000, durationSec, responses: tally.responses, errors });
      });
    }
  });
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.warmupSec > 0) await runOnce(spec, spec.warmupSec, `${spec.uidPrefix}w`, new Tally(), false);
  // the parent starts its CPU meters now, so they cover the measured window only
  process.send?.({ type: 'measuring', label: spec.label });
  const tally = new Tally();
  const r = await runOnce(spec, spec.durationSec, spec.uidPrefix, tally, true);
  const requests = r.requests.total;
  const errorsTotal = r.errors + r.timeouts + tally.non2xx + tally.codeNot0 + tally.sampleMismatch;
  // autocannon counts a non-2xx both in `non2xx` and as a response; our own tally is the source of truth
  const ok = tally.responses - tally.non2xx - tally.codeNot0 - tally.sampleMismatch;
  return {
    label: spec.label,
    kind: spec.kind,
    connections: spec.connections,
    durationSec: r.duration,
    requests,
    rps: requests / r.duration,
    ok,
    okPerSec: ok / r.duration,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.mean },
    errors: {
      total: errorsTotal,
      transport: r.errors,
      timeouts: r.timeouts,
      non2xx: tally.non2xx,
      codeNot0: tally.codeNot0,
      sampleMismatch: tally.sampleMismatch,
      examples: tally.examples,
    },
    sampled: tally.sampled,
    impUids: tally.impUids,
  };
}

if (process.send) {
  process.on('message', (msg: Msg) => {
    if (msg.type === 'exit') process.exit(0);
    runLoad(msg.spec).then(
      (result) => process.send!({ type: 'result', result }),
      (err: Error) => process.send!({ type: 'error', message: err.stack ?? err.message }),
    );
  });
  process.send({ type: 'ready' });
}
