/**
 * The open-loop generator (issue #14, aim 5), run in its own process (forked by bench/run.ts, IPC
 * like bench/loadgen.ts). Requests arrive at a constant rate for a fixed time, whatever the server
 * does; each is timed from its *scheduled* send time (bench/lib/arrivals.ts), so a slow answer delays
 * nothing and hides nothing (coordinated-omission free). A keep-alive undici pool with enough
 * sockets for the rate; a request still unanswered `timeoutMs` after its scheduled time (waiting for
 * a socket included) is an error, so an overloaded server ends a phase at most that long after the
 * last send instead of draining a backlog for minutes.
 *
 * Every answer is parsed: Pier's must be V1 code 0 with status `paid` for the merchant_uid sent,
 * the simulator's result_cd 0000 for the moid sent. Anything else is an error.
 */
import { Pool } from 'undici';
import { dueCount, scheduledAt, summarize, type LatencySummary } from './lib/arrivals.js';
import { againBody, simulatorChargeForm } from './lib/requests.js';

export interface OpenLoopSpec {
  label: string;
  /** `again`: Pier's (or the yardstick's) POST /subscribe/payments/again; `sim`: the simulator's payments_token */
  kind: 'again' | 'sim';
  url: string;
  ratePerSec: number;
  durationSec: number;
  warmupSec: number;
  uidPrefix: string;
  token?: string;
  customerUids?: string[];
  sim?: { mid: string; apiKey: string; cardToken: string };
  timeoutMs?: number;
}

export interface OpenLoopResult {
  label: string;
  ratePerSec: number;
  durationSec: number;
  sent: number;
  ok: number;
  /** answers per second over the measured window */
  okPerSec: number;
  /** from the scheduled send time to the end of the answer */
  latencyMs: LatencySummary;
  /** how late the generator itself sent (ms after the scheduled time): large = the generator, not the server, fell behind */
  sendLagMs: { p99: number; max: number };
  errors: { total: number; examples: string[] };
}

interface Built {
  path: string;
  headers: Record<string, string>;
  body: string;
  check(status: number, body: string): string | null;
}

function requestFor(spec: OpenLoopSpec, i: number, prefix: string): Built {
  const uid = `${prefix}${i}`;
  if (spec.kind === 'sim') {
    const s = spec.sim!;
    return {
      path: '/api/v1/payments_token',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: simulatorChargeForm(s, uid),
      check(status, body) {
        if (status !== 200) return `HTTP ${status}: ${body.slice(0, 200)}`;
        const r = JSON.parse(body) as { result_cd?: string; moid?: string };
        if (r.result_cd !== '0000') return body.slice(0, 200);
        return r.moid === uid ? null : `moid ${r.moid} for ${uid}`;
      },
    };
  }
  const customers = spec.customerUids!;
  return {
    path: '/subscribe/payments/again',
    headers: { 'content-type': 'application/json', ...(spec.token ? { authorization: `Bearer ${spec.token}` } : {}) },
    body: againBody(customers[i % customers.length], uid),
    check(status, body) {
      if (status < 200 || status > 299) return `HTTP ${status}: ${body.slice(0, 200)}`;
      const r = JSON.parse(body) as { code?: number; response?: { status?: string; merchant_uid?: string } };
      if (r.code !== 0) return body.slice(0, 200);
      if (r.response?.status !== 'paid') return `status ${r.response?.status}: ${body.slice(0, 200)}`;
      return r.response.merchant_uid === uid ? null : `answer for another request (sent ${uid}): ${body.slice(0, 200)}`;
    },
  };
}

/** Sends `rate × seconds` requests on schedule and waits for every answer (or its timeout). */
async function runPhase(spec: OpenLoopSpec, pool: Pool, seconds: number, prefix: string, report: boolean): Promise<Omit<OpenLoopResult, 'label' | 'ratePerSec'>> {
  const total = Math.max(1, Math.round(spec.ratePerSec * seconds));
  const latencies: number[] = [];
  const lags: number[] = [];
  const examples: string[] = [];
  let errors = 0;
  let sent = 0;
  const timeoutMs = spec.timeoutMs ?? 10_000;
  const fail = (why: string) => {
    errors++;
    if (examples.length < 5) examples.push(why);
  };
  const inFlight: Array<Promise<void>> = [];
  const t0 = performance.now() + 5;
  let lastReport = t0;

  const send = (i: number) => {
    const due = scheduledAt(i, spec.ratePerSec, t0);
    lags.push(performance.now() - due);
    const r = requestFor(spec, i, prefix);
    inFlight.push(
      pool
        .request({ method: 'POST', path: r.path, headers: r.headers, body: r.body, signal: AbortSignal.timeout(Math.max(1, Math.ceil(due + timeoutMs - performance.now()))) })
        .then(async (res) => {
          const text = await res.body.text();
          const latency = performance.now() - due;
          let why: string | null;
          try {
            why = r.check(res.statusCode, text);
          } catch {
            why = `not JSON: ${text.slice(0, 200)}`;
          }
          if (why) fail(why);
          else latencies.push(latency);
        })
        .catch((err: Error & { code?: unknown }) => fail(`${typeof err.code === 'string' ? err.code : err.name}: ${err.message.slice(0, 160)}`)),
    );
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = dueCount(now - t0, spec.ratePerSec, total);
      while (sent < due) send(sent++);
      if (report && now - lastReport > 1000) {
        lastReport = now;
        process.send?.({ type: 'progress', label: spec.label, elapsedSec: (now - t0) / 1000, durationSec: seconds, responses: latencies.length, errors });
      }
      if (sent >= total) return resolve();
      // wake up at the next due time (timers fire no sooner than 1 ms: several may be sent per tick)
      setTimeout(tick, Math.max(0, scheduledAt(sent, spec.ratePerSec, t0) - performance.now()));
    };
    setTimeout(tick, 5);
  });
  const sendEnd = performance.now();
  await Promise.all(inFlight);
  const lagSummary = summarize(lags);
  return {
    durationSec: (sendEnd - t0) / 1000,
    sent,
    ok: latencies.length,
    okPerSec: latencies.length / Math.max(0.001, (performance.now() - t0) / 1000),
    latencyMs: summarize(latencies),
    sendLagMs: { p99: lagSummary.p99, max: lagSummary.max },
    errors: { total: errors, examples },
  };
}

export async function runOpenLoop(spec: OpenLoopSpec): Promise<OpenLoopResult> {
  // enough sockets that a request never waits for one unless the server is past its capacity
  const pool = new Pool(spec.url, { connections: Math.max(64, Math.ceil(spec.ratePerSec / 2)), pipelining: 1, keepAliveTimeout: 30_000 });
  try {
    if (spec.warmupSec > 0) await runPhase(spec, pool, spec.warmupSec, `${spec.uidPrefix}w`, false);
    process.send?.({ type: 'measuring', label: spec.label });
    const r = await runPhase(spec, pool, spec.durationSec, spec.uidPrefix, true);
    return { label: spec.label, ratePerSec: spec.ratePerSec, ...r };
  } finally {
    await pool.close();
  }
}

if (process.send) {
  process.on('message', (msg: { type: 'run'; spec: OpenLoopSpec } | { type: 'exit' }) => {
    if (msg.type === 'exit') process.exit(0);
    runOpenLoop(msg.spec).then(
      (result) => process.send!({ type: 'result', result }),
      (err: Error) => process.send!({ type: 'error', message: err.stack ?? err.message }),
    );
  });
  process.send({ type: 'ready' });
}
