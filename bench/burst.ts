/**
 * The burst generator, run in its own process (forked by bench/run.ts): sends `count` charges at
 * once, each on its own connection, so that all of them are in flight together, and waits for every
 * answer. Every body is parsed and checked (code 0, status paid, the merchant_uid that was sent).
 */
import { Pool } from 'undici';

export interface BurstSpec {
  label: string;
  url: string;
  token: string;
  count: number;
  customerUids: string[];
  uidPrefix: string;
}

export interface BurstResult {
  label: string;
  count: number;
  ok: number;
  failed: number;
  examples: string[];
  wallMs: number;
  latencyMs: { p50: number; p99: number; max: number; min: number };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export async function runBurst(spec: BurstSpec): Promise<BurstResult> {
  const pool = new Pool(spec.url, { connections: spec.count, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000, connectTimeout: 60_000 });
  const latencies: number[] = [];
  const examples: string[] = [];
  let ok = 0;
  let failed = 0;
  const fail = (why: string) => {
    failed++;
    if (examples.length < 5) examples.push(why);
  };
  const t0 = performance.now();
  const ticker = setInterval(() => process.send?.({ type: 'progress', label: spec.label, done: ok + failed, count: spec.count, failed }), 500);
  await Promise.all(
    Array.from({ length: spec.count }, async (_, i) => {
      const uid = `${spec.uidPrefix}${i}`;
      const started = performance.now();
      try {
        const res = await pool.request({
          method: 'POST',
          path: '/subscribe/payments/again',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${spec.token}` },
          body: JSON.stringify({ customer_uid: spec.customerUids[i % spec.customerUids.length], merchant_uid: uid, amount: 1000, name: 'bench burst' }),
        });
        const text = await res.body.text();
        latencies.push(performance.now() - started);
        if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
        const body = JSON.parse(text) as { code: number; response?: { status?: string; merchant_uid?: string } };
        if (body.code !== 0 || body.response?.status !== 'paid' || body.response.merchant_uid !== uid) return fail(text.slice(0, 300));
        ok++;
      } catch (err) {
        latencies.push(performance.now() - started);
        fail(`transport: ${(err as Error).message}`);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  clearInterval(ticker);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    label: spec.label,
    count: spec.count,
    ok,
    failed,
    examples,
    wallMs,
    latencyMs: { p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies[latencies.length - 1], min: latencies[0] },
  };
}

if (process.send) {
  process.on('message', (msg: { type: 'run'; spec: BurstSpec } | { type: 'exit' }) => {
    if (msg.type === 'exit') process.exit(0);
    runBurst(msg.spec).then(
      (result) => process.send!({ type: 'result', result }),
      (err: Error) => process.send!({ type: 'error', message: err.stack ?? err.message }),
    );
  });
  process.send({ type: 'ready' });
}
