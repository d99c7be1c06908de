/**
 * Sections that depend on work still in progress. Each one detects its feature at run time against
 * a running Pier and measures only when it is there; otherwise it reports "not available yet".
 *
 *  - schedules + webhooks (issue #4): time to execute N due schedules with 1 and with 3 Pier
 *    processes on one PostgreSQL; webhook deliveries per second to a local receiver.
 *    Detected by POST /subscribe/payments/schedule answering something other than 404/501.
 *  - SDK + checkout (issue #3): the SDK bundle's gzip size; first contentful paint of the hosted
 *    checkout in headless chromium. Detected by Pier serving the SDK file and creating a checkout
 *    session (POST /checkout/sessions, as request_pay does).
 */
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { setupMerchant, startPierProc, v1, type PierProc } from './lib/pier.js';
import { cpuMeter } from './lib/machine.js';
import { stop } from './lib/proc.js';

export type Section<T> = { available: false; reason: string } | ({ available: true } & T);

const NOT_YET = 'not available yet';

// ---------------------------------------------------------------- schedules and webhooks

export interface ScheduleRun {
  processes: number;
  schedules: number;
  createSec: number;
  /** from schedule_at (or the end of creation, if later) until every schedule had a final payment */
  executeSec: number | null;
  executedPerSec: number | null;
  paid: number;
  failed: number;
  /** payments rows for these merchant_uids beyond one each (0 = exactly once) */
  duplicates: number;
  webhooks: { received: number; perSec: number | null; spanSec: number | null };
  /** CPU from the due time until every schedule had a final payment, in ms per schedule: the Pier processes together, PostgreSQL */
  cpuMsPerSchedule: { pier: number | null; postgres: number | null };
  /** busy cores of the whole machine over that time, and those no measured process explains */
  machineBusyCores: number | null;
  otherCores: number | null;
  /** the claims every Pier process made over the run (its /metrics), by queue: found, empty, rows leased */
  claims?: Record<string, ClaimCounts>;
  note?: string;
}

export interface ClaimCounts {
  found: number;
  empty: number;
  rows: number;
}

/** The claims of every Pier process, summed by queue. */
async function claimsOf(piers: PierProc[]): Promise<Record<string, ClaimCounts>> {
  const sum: Record<string, ClaimCounts> = {};
  for (const p of piers) {
    for (const [queue, c] of Object.entries(await claimCounts(p.url))) {
      const s = (sum[queue] ??= { found: 0, empty: 0, rows: 0 });
      s.found += c.found;
      s.empty += c.empty;
      s.rows += c.rows;
    }
  }
  return sum;
}

/** The claims of background work a Pier reports in /metrics, by queue (pier_job_claims_total, pier_job_claimed_rows_total). */
async function claimCounts(pierUrl: string): Promise<Record<string, ClaimCounts>> {
  const res = await fetch(`${pierUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const out: Record<string, ClaimCounts> = {};
  const of = (queue: string) => (out[queue] ??= { found: 0, empty: 0, rows: 0 });
  for (const m of text.matchAll(/^pier_job_claims_total\{queue="([^"]+)",result="(found|empty)"\} (\d+)$/gm)) of(m[1])[m[2] as 'found' | 'empty'] += Number(m[3]);
  for (const m of text.matchAll(/^pier_job_claimed_rows_total\{queue="([^"]+)"\} (\d+)$/gm)) of(m[1]).rows += Number(m[2]);
  return out;
}

/**
 * Does this Pier implement V1 schedules, and does it execute them? The route must exist (not 404 /
 * 501), and one probe schedule due in 2 s must be executed within `waitSec`.
 */
export async function schedulesAvailable(pier: PierProc, token: string, customerUid: string, waitSec = 15): Promise<{ ok: boolean; reason: string }> {
  const r = await v1(pier.url, 'POST', '/subscribe/payments/schedule', token, {});
  if (r.status === 404 || r.status === 501) return { ok: false, reason: `${NOT_YET} (POST /subscribe/payments/schedule answers HTTP ${r.status})` };
  const uid = `bench_sched_probe_${Date.now()}`;
  const made = await v1(pier.url, 'POST', '/subscribe/payments/schedule', token, {
    customer_uid: customerUid,
    schedules: [{ merchant_uid: uid, schedule_at: Math.floor(Date.now() / 1000) + 2, amount: 1000, name: 'bench probe' }],
  });
  if (made.json?.code !== 0) return { ok: false, reason: `${NOT_YET} (POST /subscribe/payments/schedule: HTTP ${made.status} ${made.text.slice(0, 160)})` };
  const until = Date.now() + waitSec * 1000;
  let status = '';
  while (Date.now() < until) {
    await new Promise((res) => setTimeout(res, 500));
    const g = await v1(pier.url, 'GET', `/subscribe/payments/schedule/${uid}`, token);
    status = String(g.json?.response?.schedule_status ?? '');
    if (status && status !== 'scheduled') return { ok: true, reason: `a probe schedule was ${status}` };
  }
  return { ok: false, reason: `${NOT_YET} (schedules are accepted, but a schedule due in 2 s was still "${status}" ${waitSec} s later: this Pier process runs no job runner)` };
}

export interface BenchReceiver {
  server: Server;
  url: string;
  /** when each request ended (performance.now()) */
  times: number[];
  /** `webhook-id` → requests carrying it */
  ids: Map<string, number>;
  /** the first `sample` requests with a `webhook-id`, for signature checks */
  samples: Array<{ headers: Record<string, string>; body: string }>;
}

/**
 * The local webhook receiver: answers 200 to any POST once its body is read. It counts requests per
 * `webhook-id` (exactly-once checks) and keeps the first `sample` bodies with their signature
 * headers. The plain load generator's requests carry no `webhook-id`, so it does the same work for
 * them minus the map update.
 */
export function startReceiver(o: { sample?: number } = {}): Promise<BenchReceiver> {
  const times: number[] = [];
  const ids = new Map<string, number>();
  const samples: BenchReceiver['samples'] = [];
  const sample = o.sample ?? 0;
  const server = createServer((req, res) => {
    const id = req.headers['webhook-id'];
    const keep = typeof id === 'string' && samples.length < sample;
    let body = '';
    if (keep) req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    else req.resume();
    req.on('end', () => {
      times.push(performance.now());
      if (typeof id === 'string') ids.set(id, (ids.get(id) ?? 0) + 1);
      if (keep) {
        const h = req.headers;
        samples.push({ body, headers: { 'webhook-id': String(h['webhook-id']), 'webhook-timestamp': String(h['webhook-timestamp']), 'webhook-signature': String(h['webhook-signature']) } });
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/webhook`, times, ids, samples })),
  );
}

/**
 * Starts `processes` Piers on one PostgreSQL database (sharing the data dir, hence the vault key),
 * runs a warm-up fifth of `count` schedules through them, then schedules `count` charges (created
 * through the processes in turn) due at one second and waits until all have run.
 */
export async function runSchedules(opts: {
  processes: number;
  count: number;
  dataDir: string;
  databaseUrl: string;
  jtnetUrl: string;
  tag: string;
  leadSec: number;
  timeoutSec: number;
  progress: (line: string) => void;
  /** node flags for every Pier process, e.g. --cpu-prof */
  nodeArgs?: string[];
}): Promise<ScheduleRun> {
  const piers: PierProc[] = [];
  const receiver = await startReceiver();
  const db = new pg.Client({ connectionString: opts.databaseUrl });
  await db.connect();
  try {
    for (let i = 0; i < opts.processes; i++) {
      // the first start gives the database a simulator MID of its own (startPierProc)
      const ownSimulatorMid = i === 0 ? `ps${opts.tag}${opts.processes}` : undefined;
      piers.push(await startPierProc({ name: `pier-sched-${i + 1}`, dataDir: opts.dataDir, databaseUrl: opts.databaseUrl, jtnetUrl: opts.jtnetUrl, ownSimulatorMid, nodeArgs: opts.nodeArgs }));
    }
    const setup = await setupMerchant(piers[0].url, 1, `${opts.tag}s${opts.processes}`);
    const customerUid = setup.customerUids[0];
    const owner = await db.query<{ merchant_id: string }>('SELECT merchant_id FROM billing_keys WHERE customer_uid = $1', [customerUid]);
    if (owner.rows.length !== 1) throw new Error(`expected one billing key for ${customerUid}, found ${owner.rows.length}`);
    /** `count` schedules due at `scheduleAt`, created in chunks spread over the processes */
    const create = async (prefix: string, count: number, scheduleAt: number) => {
      const CHUNK = 500;
      for (let start = 0; start < count; start += CHUNK) {
        const schedules = Array.from({ length: Math.min(CHUNK, count - start) }, (_, k) => ({
          merchant_uid: `${prefix}${start + k}`,
          schedule_at: scheduleAt,
          amount: 1000,
          name: 'bench schedule',
          notice_url: receiver.url,
        }));
        const r = await v1(piers[(start / CHUNK) % piers.length].url, 'POST', '/subscribe/payments/schedule', setup.token, { customer_uid: customerUid, schedules });
        if (r.json?.code !== 0) throw new Error(`schedule failed: HTTP ${r.status} ${r.text.slice(0, 300)}`);
        opts.progress(`created ${Math.min(start + CHUNK, count)}/${count} schedules`);
      }
    };
    // The progress poll reads these payments only, through the customer's index: a LIKE on
    // merchant_uid alone read every payment of the bench database (all sections' payments) four
    // times a second, PostgreSQL CPU that the run's own CPU figures counted.
    const executed = async (prefix: string) =>
      (
        await db.query<{ paid: number; failed: number; rows: number; distinct: number }>(
          `SELECT count(*) FILTER (WHERE status = 'paid')::int AS paid, count(*) FILTER (WHERE status = 'failed')::int AS failed,
                  count(*)::int AS rows, count(DISTINCT merchant_uid)::int AS distinct
             FROM payments WHERE merchant_id = $1 AND customer_uid = $2 AND merchant_uid LIKE $3`,
          [owner.rows[0].merchant_id, customerUid, `${prefix}%`],
        )
      ).rows[0];
    const settled = (e: { paid: number; failed: number; rows: number; distinct: number }, count: number) =>
      e.distinct >= count && e.paid + e.failed >= e.rows && e.paid + e.failed >= count;

    // Warm-up: processes that run for days have their payment path compiled by V8's optimising
    // compiler; just started, the first few thousand payments run slower and cost more CPU. A fifth
    // of the count, due at once, run to the end (webhooks included) before the measured schedules
    // are created, so one process and three are compared warm, not by how much of each one's share
    // ran before it was compiled.
    const warmCount = Math.max(100, Math.round(opts.count / 5));
    const warmPrefix = `bschw_${opts.tag}_${opts.processes}p_`;
    // (schedule_at must still be ahead when the last chunk is created)
    await create(warmPrefix, warmCount, Math.floor(Date.now() / 1000) + 1 + Math.ceil(warmCount / 1000));
    const warmUntil = Date.now() + opts.timeoutSec * 1000;
    while (!settled(await executed(warmPrefix), warmCount) || receiver.times.length < warmCount) {
      if (Date.now() > warmUntil) throw new Error(`the warm-up's ${warmCount} schedules did not finish within ${opts.timeoutSec} s`);
      opts.progress(`warm-up: ${receiver.times.length}/${warmCount} webhooks (${opts.processes} process${opts.processes > 1 ? 'es' : ''})`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const webhooksBefore = receiver.times.length;
    const claimsBefore = await claimsOf(piers);

    const prefix = `bsch_${opts.tag}_${opts.processes}p_`;
    const t0 = performance.now();
    const scheduleAt = Math.floor(Date.now() / 1000) + opts.leadSec;
    await create(prefix, opts.count, scheduleAt);
    const createSec = (performance.now() - t0) / 1000;
    const dueAt = Math.max(scheduleAt * 1000, Date.now());
    await new Promise((r) => setTimeout(r, Math.max(0, dueAt - Date.now())));
    const meter = cpuMeter(Object.fromEntries(piers.map((p, i) => [`pier${i + 1}`, p.child.pid])), true);
    let final = { paid: 0, failed: 0, rows: 0, distinct: 0 };
    let doneAt: number | null = null;
    while (Date.now() < dueAt + opts.timeoutSec * 1000) {
      final = await executed(prefix);
      opts.progress(`executed ${final.paid + final.failed}/${opts.count} (${opts.processes} process${opts.processes > 1 ? 'es' : ''}), webhooks ${receiver.times.length - webhooksBefore}`);
      if (settled(final, opts.count)) {
        doneAt = Date.now();
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const cpu = meter.end();
    const pierCores = piers.reduce((sum, _p, i) => sum + (cpu.cores[`pier${i + 1}`] ?? 0), 0);
    const perSchedule = (cores: number | undefined) => (cores === undefined || doneAt === null ? null : Math.round(((cores * cpu.seconds * 1000) / opts.count) * 100) / 100);
    // let webhook deliveries finish (they trail the payments)
    const waitUntil = Date.now() + 30_000;
    let last = -1;
    while (Date.now() < waitUntil && receiver.times.length - webhooksBefore < opts.count) {
      if (receiver.times.length === last && receiver.times.length > webhooksBefore) break;
      last = receiver.times.length;
      await new Promise((r) => setTimeout(r, 2000));
    }
    const claimsAfter = await claimsOf(piers);
    const claims = Object.fromEntries(
      Object.entries(claimsAfter).map(([queue, c]) => {
        const b = claimsBefore[queue] ?? { found: 0, empty: 0, rows: 0 };
        return [queue, { found: c.found - b.found, empty: c.empty - b.empty, rows: c.rows - b.rows }];
      }),
    );
    const t = receiver.times.slice(webhooksBefore);
    const spanSec = t.length > 1 ? (t[t.length - 1] - t[0]) / 1000 : null;
    const executeSec = doneAt === null ? null : (doneAt - dueAt) / 1000;
    return {
      processes: opts.processes,
      schedules: opts.count,
      createSec,
      executeSec,
      executedPerSec: executeSec ? opts.count / executeSec : null,
      paid: final.paid,
      failed: final.failed,
      duplicates: final.rows - final.distinct,
      webhooks: { received: t.length, perSec: spanSec ? t.length / spanSec : null, spanSec },
      cpuMsPerSchedule: { pier: perSchedule(pierCores), postgres: perSchedule(cpu.cores.postgres) },
      machineBusyCores: cpu.machineBusyCores,
      otherCores: cpu.otherCores,
      claims,
      note: doneAt === null ? `did not finish within ${opts.timeoutSec} s of schedule_at` : undefined,
    };
  } finally {
    await db.end();
    receiver.server.close();
    for (const p of piers) await stop(p.child);
  }
}

// ---------------------------------------------------------------- SDK and checkout

export interface SdkResult {
  sdk: { path: string; bytes: number; gzipBytes: number } | { missing: string };
  firstPaint: { page: string; fcpMs: number; loadMs: number; runs: number } | { missing: string };
}

const SDK_PATHS = ['/v1/iamport.js', '/js/iamport.payment-1.2.0.js', '/sdk/iamport.js'];

async function fetchOk(url: string, type: RegExp): Promise<Buffer | null> {
  try {
    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    return res.ok && type.test(res.headers.get('content-type') ?? '') && body.length > 0 ? body : null;
  } catch {
    return null;
  }
}

function chromiumPath(): string | null {
  for (const bin of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/**
 * A fresh hosted-checkout page (POST /checkout/sessions, as the SDK's request_pay does), or null
 * when this Pier has no checkout yet.
 */
async function newCheckoutUrl(pierUrl: string, merchantCode: string, i: number): Promise<string | null> {
  try {
    const res = await fetch(`${pierUrl}/checkout/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        imp_code: merchantCode,
        params: { pg: 'jtnet', pay_method: 'card', merchant_uid: `bench_checkout_${Date.now()}_${i}`, amount: 1000, name: 'bench checkout' },
        mode: 'popup',
        origin: pierUrl,
      }),
    });
    if (!res.ok) return null;
    const r = (await res.json()) as { ok?: boolean; checkout_url?: string };
    return r.ok && r.checkout_url ? r.checkout_url : null;
  } catch {
    return null;
  }
}

/**
 * The SDK bundle's gzip size, and the first contentful paint of the hosted checkout in headless
 * chromium (a new browser context per load, so nothing is cached; median of 5 after one warm-up).
 */
export async function sdkSection(pierUrl: string, merchantCode: string | null): Promise<SdkResult> {
  let sdk: SdkResult['sdk'] = { missing: `${NOT_YET} (Pier serves none of ${SDK_PATHS.join(', ')})` };
  for (const path of SDK_PATHS) {
    const body = await fetchOk(pierUrl + path, /javascript/);
    if (body) {
      sdk = { path, bytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length };
      break;
    }
  }

  const chromium = chromiumPath();
  const probe = merchantCode ? await newCheckoutUrl(pierUrl, merchantCode, 0) : null;
  if (!probe) return { sdk, firstPaint: { missing: `${NOT_YET} (POST /checkout/sessions gives no checkout page${merchantCode ? '' : '; no merchant code'})` } };
  if (!chromium) return { sdk, firstPaint: { missing: 'no chromium on this machine' } };
  const { chromium: pw } = await import('playwright-core');
  const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox'] });
  try {
    const samples: Array<{ fcp: number; load: number }> = [];
    for (let i = 0; i < 6; i++) {
      const url = i === 0 ? probe : await newCheckoutUrl(pierUrl, merchantCode!, i);
      if (!url) throw new Error('checkout session refused');
      const ctx = await browser.newContext();
      const tab = await ctx.newPage();
      await tab.goto(url, { waitUntil: 'load' });
      // first-contentful-paint can be reported after the load event: wait for it (up to 5 s)
      const m = await tab.evaluate(`new Promise((resolve) => {
        const nav = () => performance.getEntriesByType('navigation')[0];
        const done = (fcp) => resolve({ fcp, load: nav() ? nav().loadEventEnd : NaN });
        new PerformanceObserver((list) => {
          const e = list.getEntries().find((x) => x.name === 'first-contentful-paint');
          if (e) done(e.startTime);
        }).observe({ type: 'paint', buffered: true });
        setTimeout(() => done(NaN), 5000);
      })`);
      samples.push(m as { fcp: number; load: number });
      await ctx.close();
    }
    // the first load pays for the browser's own warm-up
    const rest = samples.slice(1).sort((a, b) => a.fcp - b.fcp);
    const mid = rest[Math.floor(rest.length / 2)];
    return { sdk, firstPaint: { page: '/checkout/{session} (card, popup mode)', fcpMs: mid.fcp, loadMs: mid.load, runs: rest.length } };
  } finally {
    await browser.close();
  }
}
