/**
 * `npm run bench`: Pier's payment paths against this machine's yardstick (a minimal
 * record-call-record server making Pier's two commits on Pier's schema, bench/yardstick-server.ts;
 * the same server on two minimal tables of its own as context) and ceilings, in one run; Pier's added
 * latency open loop; round trips and commits per payment; PIER_WORKERS 1 vs 2; schedules and
 * webhooks; and issue #14's aims judged from all of it. See docs/performance.md.
 *
 *   npm run bench                 # full run, 10-15 minutes -> bench/results/latest.json (with `aims`) and latest.md
 *   npm run bench -- --quick      # 3 s per measurement, 1,000 schedules -> latest-quick.json / .md
 *   npm run bench -- --smoke      # 1 s per measurement: checks that the bench itself works (exit 1 if not)
 *   npm run bench -- --profile    # also CPU-profile Pier and the yardstick during `again` (SQLite and PostgreSQL): summaries and flame graphs
 *   npm run bench -- --no-postgres
 *   npm run bench -- --only sqlite,http    # sections: http simulator sqlite yardstick openloop roundtrips workers sdk postgres commit slow schedules webhooks
 *   npm run bench -- --skip schedules
 *   npm run bench -- --rates 200,1000      # open-loop arrival rates per second
 *
 * A section that fails is reported (errors[] in the JSON, the Markdown, exit status 1) and the run
 * goes on.
 *
 * Env: BENCH_DATABASE_URL (admin URL of the PostgreSQL server; default TEST_DATABASE_URL or
 * postgres://postgres@127.0.0.1:5432/postgres), BENCH_NO_PGBENCH=1 (use the script instead).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BurstResult, BurstSpec } from './burst.js';
import { runSchedules, schedulesAvailable, sdkSection, startReceiver, type ScheduleRun } from './extras.js';
import type { LoadResult, LoadSpec } from './loadgen.js';
import type { OpenLoopResult, OpenLoopSpec } from './openloop.js';
import { computeAims, JUDGED_OPEN_LOOP_RATE, type AgainNumbers, type AimInputs, type Store } from './lib/aims.js';
import { cpuMeter, listenDrops, machineInfo, type CpuUse } from './lib/machine.js';
import { commitRate, createDatabase, serverInfo, type BenchDatabase, type CommitRate } from './lib/pg.js';
import { setupMerchant, simulatorAccount, startPierProc, startSimulator, BENCH_CARD, type PierProc, type SimulatorAccount, type SimulatorProc } from './lib/pier.js';
import { flameGraphSvg } from './lib/flamegraph.js';
import { profileMarkdown, summarizeProfile } from './lib/profile.js';
import { compiled } from './lib/compile.js';
import { memoryOf, processTree, ROOT, serveOnFreshPort, stop, stopAll, type Child } from './lib/proc.js';
import { renderMarkdown, type PathRun, type Results, type SlowRun, type WorkersRun } from './lib/report.js';
import { countRoundTrips } from './lib/round-trips.js';
import { webhookDrain } from './lib/webhook-drain.js';

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (f: string) => argv.includes(f);
const value = (f: string) => {
  const i = argv.indexOf(f);
  return i >= 0 ? argv[i + 1] : undefined;
};
if (flag('--help') || flag('-h')) {
  console.log(
    'usage: npm run bench -- [--quick | --smoke] [--profile] [--no-postgres] [--only|--skip http,simulator,sqlite,yardstick,pairs,openloop,roundtrips,workers,sdk,postgres,commit,slow,schedules,webhooks] [--connections N] [--duration S] [--rates 200,1000] [--schedules N] [--out DIR]',
  );
  process.exit(0);
}
const mode: Results['mode'] = flag('--smoke') ? 'smoke' : flag('--quick') ? 'quick' : 'full';
const PRESETS = {
  full: { durationSec: 10, warmupSec: 2, burst: 2000, schedules: 10_000, webhooks: 10_000, customers: 64, rates: [200, 1000], countPayments: 20, cpuPairs: 5, openLoopRounds: 3 },
  quick: { durationSec: 3, warmupSec: 1, burst: 2000, schedules: 1_000, webhooks: 2_000, customers: 32, rates: [200, 1000], countPayments: 10, cpuPairs: 2, openLoopRounds: 2 },
  smoke: { durationSec: 1, warmupSec: 0, burst: 200, schedules: 100, webhooks: 200, customers: 8, rates: [200], countPayments: 5, cpuPairs: 1, openLoopRounds: 1 },
} as const;
const preset = PRESETS[mode];
const connections = Number(value('--connections') ?? 64);
const durationSec = Number(value('--duration') ?? preset.durationSec);
const warmupSec = preset.warmupSec;
const SLOW_DELAY_MS = 300;
const LOG_LEVEL = 'warn';
/** open-loop arrival rates, requests per second */
/** due schedules in the schedules section (default: the preset's) */
const scheduleCount = Number(value('--schedules') ?? preset.schedules);
const rates = value('--rates')?.split(',').map(Number) ?? [...preset.rates];
const withProfile = flag('--profile');
const withPostgres = !flag('--no-postgres');
const outDir = value('--out') ?? join(ROOT, 'bench', 'results');
/** sections: http, simulator, sqlite, yardstick, pairs, openloop, roundtrips, workers, sdk, postgres, commit, slow, schedules, webhooks (--only a,b / --skip a,b) */
const only = value('--only')?.split(',');
const skip = value('--skip')?.split(',') ?? [];
const want = (name: string) => (!only || only.includes(name)) && !skip.includes(name);
const adminUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const runTag = Date.now().toString(36).slice(-5);

// ---------------------------------------------------------------- progress

const tty = process.stderr.isTTY;
let lastProgressAt = 0;
let progressShown = false;
function say(line: string) {
  if (progressShown && tty) process.stderr.write('\n');
  progressShown = false;
  process.stderr.write(`${line}\n`);
}
function progress(line: string) {
  if (tty) {
    process.stderr.write(`\r\x1b[2K  ${line}`);
    progressShown = true;
  } else if (Date.now() - lastProgressAt > 2000) {
    process.stderr.write(`  ${line}\n`);
    lastProgressAt = Date.now();
  }
}
const started = Date.now();
const clock = () => `${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s`;
function phase(title: string) {
  say(`[${clock()}] ${title}`);
}

// ---------------------------------------------------------------- generator processes

interface Worker {
  proc: ChildProcess;
  /** `onMeasuring` is called when the warm-up is over and the measured window starts */
  run<T>(spec: unknown, onMeasuring?: () => void): Promise<T>;
}

/** Forks bench/loadgen.ts, bench/burst.ts or bench/openloop.ts: a separate process that takes orders over IPC. */
async function forkWorker(entry: string): Promise<Worker> {
  const proc = fork(join(ROOT, entry), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    proc.once('message', () => resolve());
    proc.once('exit', (code) => reject(new Error(`${entry} exited with ${code}`)));
  });
  return {
    proc,
    run<T>(spec: unknown, onMeasuring?: () => void) {
      return new Promise<T>((resolve, reject) => {
        const onMsg = (m: { type: string; result?: T; message?: string } & Record<string, unknown>) => {
          if (m.type === 'measuring') {
            onMeasuring?.();
            return;
          }
          if (m.type === 'progress') {
            if ('durationSec' in m) {
              progress(`${String(m.label)}: ${Number(m.elapsedSec).toFixed(0)}/${Number(m.durationSec)} s, ${Number(m.responses).toLocaleString('en-US')} answers, ${Number(m.errors)} errors`);
            } else {
              progress(`${String(m.label)}: ${Number(m.done).toLocaleString('en-US')}/${Number(m.count).toLocaleString('en-US')} answered, ${Number(m.failed)} failed`);
            }
            return;
          }
          proc.off('message', onMsg);
          proc.off('exit', onExit);
          if (m.type === 'result') resolve(m.result as T);
          else reject(new Error(m.message ?? 'worker failed'));
        };
        // a generator that crashes must fail its step, not leave the run waiting forever
        const onExit = (code: number | null, signal: string | null) => {
          proc.off('message', onMsg);
          reject(new Error(`${entry} exited (${signal ?? code}) during a measurement; its stderr is above`));
        };
        if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`${entry} is not running (exited ${proc.signalCode ?? proc.exitCode})`));
        proc.on('message', onMsg);
        proc.once('exit', onExit);
        proc.send({ type: 'run', spec });
      });
    },
  };
}

// ---------------------------------------------------------------- the run

const work = mkdtempSync(join(tmpdir(), 'pier-bench-'));
const results: Results = {
  version: 2,
  startedAt: new Date().toISOString(),
  finishedAt: '',
  mode,
  settings: { connections, durationSec, warmupSec, burst: preset.burst, slowDelayMs: SLOW_DELAY_MS, logLevel: LOG_LEVEL },
  machine: machineInfo(),
  postgres: { unavailable: 'not tried' },
  ceilings: { bareHttp: null, rawCommit: null, rawCommitAtPierPool: null, simulator: null },
  paths: [],
  yardstick: [],
  yardstickMinimalTables: [],
  cpuPairs: [],
  openLoop: [],
  roundTrips: [],
  workers: { available: false, reason: 'not measured' },
  webhookReceiver: null,
  webhookDrain: [],
  slow: [],
  aims: [],
  schedules: { available: false, reason: 'not available yet' },
  sdk: { sdk: { missing: 'not measured' }, firstPaint: { missing: 'not measured' } },
  profiles: [],
  notes: [],
  errors: [],
};
let benchDb: BenchDatabase | null = null;
/** scratch databases of the yardstick, dropped when it stops (or at cleanup, if interrupted) */
const scratchDbs = new Set<BenchDatabase>();
let loadgen: Worker | null = null;
let burster: Worker | null = null;
let openloop: Worker | null = null;

/** the yardstick compiled as Pier is (compile.ts), once per run */
let yardstickBundle: ReturnType<typeof compiled> | null = null;

async function cleanup() {
  loadgen?.proc.kill();
  burster?.proc.kill();
  openloop?.proc.kill();
  await stopAll();
  if (benchDb) await benchDb.drop().catch((err: Error) => say(`could not drop ${benchDb?.name}: ${err.message}`));
  for (const d of scratchDbs) await d.drop().catch((err: Error) => say(`could not drop ${d.name}: ${err.message}`));
  if (yardstickBundle) (await yardstickBundle.catch(() => null))?.remove();
  rmSync(work, { recursive: true, force: true });
}
// Ctrl-C reaches npm, tsx and this process, and tsx relays it again: stay subscribed (a second
// signal with no listener left would end the process before the database is dropped)
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    say('interrupted: stopping processes and dropping the bench database');
    void cleanup().finally(() => process.exit(130));
  });
}

/** Runs one section; a failure is recorded and the run goes on. */
async function section(name: string, fn: () => Promise<void>) {
  try {
    await fn();
  } catch (err) {
    const msg = `${name}: ${(err as Error).message}`;
    results.errors.push(msg.slice(0, 2000));
    say(`  FAILED ${msg}`);
  }
}

/** a path relative to the repository when it is inside it */
const rel = (f: string) => (f.startsWith(`${ROOT}/`) ? f.slice(ROOT.length + 1) : f);

let specSeq = 0;
function loadSpec(label: string, kind: LoadSpec['kind'], url: string, extra: Partial<LoadSpec>): LoadSpec {
  // a prefix of its own for every measurement, so merchant_uids never repeat within a run
  return { label, kind, url, connections, durationSec, warmupSec, uidPrefix: `b${runTag}${(++specSeq).toString(36)}_`, sampleEvery: 25, ...extra };
}

/** CPU ms per answered request, from cores busy on average and answers per second */
const perReqMs = (cores: number | undefined, perSec: number) => (cores !== undefined && perSec > 0 ? (cores * 1000) / perSec : null);

function summary(l: LoadResult) {
  return `${Math.round(l.okPerSec).toLocaleString('en-US')} req/s, p50 ${l.latencyMs.p50} ms, p99 ${l.latencyMs.p99} ms, max ${l.latencyMs.max} ms, ${l.errors.total} errors${l.errors.examples[0] ? ` (e.g. ${l.errors.examples[0].slice(0, 160)})` : ''}`;
}

/** again, onetime, GET on one running Pier. */
async function measurePaths(store: PathRun['store'], pier: PierProc, sim: Child, tag: string) {
  const setup = await setupMerchant(pier.url, preset.customers, `${runTag}${tag}`);
  const pids = { pier: pier.child.pid, simulator: sim.pid, loadgen: loadgen!.proc.pid };
  const run = async (path: string, spec: LoadSpec) => {
    let meter = cpuMeter(pids, store === 'PostgreSQL');
    const load = await loadgen!.run<LoadResult>(spec, () => (meter = cpuMeter(pids, store === 'PostgreSQL')));
    const cpu = meter.end();
    results.paths.push({ store, path, load: { ...load, impUids: [] }, cpu, pierMemMiB: memoryOf(pier.child.pid) });
    say(`  ${store} ${path}: ${summary(load)}; Pier ${cpu.cores.pier ?? '?'} cores, machine ${cpu.machineBusyCores ?? '?'} cores busy`);
    return load;
  };
  // the first path measured on a fresh Pier also warms up the code every path shares (JIT): longer warm-up
  const again = await run(
    'POST /subscribe/payments/again',
    loadSpec(`${store} again`, 'again', pier.url, { token: setup.token, customerUids: setup.customerUids, collectImpUids: 20_000, warmupSec: warmupSec * 3 }),
  );
  await run('POST /subscribe/payments/onetime', loadSpec(`${store} onetime`, 'onetime', pier.url, { token: setup.token, card: BENCH_CARD }));
  await run('GET /payments/{imp_uid}', loadSpec(`${store} get`, 'get', pier.url, { token: setup.token, impUids: again.impUids }));
  return setup;
}

/** A separate Pier under --cpu-prof on the same database, during the `again` load only. */
async function profileAgain(store: Store, opts: { dataDir: string; databaseUrl: string; jtnetUrl: string }, sim: Child) {
  const profDir = join(outDir, 'profiles');
  mkdirSync(profDir, { recursive: true });
  const before = new Set(readdirSync(profDir));
  const pier = await startPierProc({ name: `pier-profile-${store}`, ...opts, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`], ownSimulatorMid: pierMid() });
  const setup = await setupMerchant(pier.url, preset.customers, `${runTag}p${store.slice(0, 1)}`);
  const load = await loadgen!.run<LoadResult>(loadSpec(`${store} again (profiled)`, 'again', pier.url, { token: setup.token, customerUids: setup.customerUids, warmupSec: warmupSec * 3 }));
  const stopAt = Date.now();
  await stop(pier.child);
  const skipEndSec = (Date.now() - stopAt) / 1000;
  void sim;
  await summarizeFreshProfile(profDir, before, { who: 'pier', store, title: `Pier on ${store}`, load, skipEndSec });
}

/**
 * Summarises the .cpuprofile a process wrote into `profDir` since `before`, next to it as Markdown
 * and as a flame graph; the flame graph also goes to `<outDir>/flamegraphs/<who>-<store>.svg`, a
 * name that stays the same from run to run, so a full run's graphs can be committed (a quick or
 * smoke run's names end in -quick or -smoke, which git ignores, as latest-quick.* and latest-smoke.*).
 */
async function summarizeFreshProfile(profDir: string, before: Set<string>, p: { who: 'pier' | 'yardstick'; store: Store; title: string; load: LoadResult; skipEndSec: number }) {
  const fresh = readdirSync(profDir).filter((f) => !before.has(f) && f.endsWith('.cpuprofile')).sort();
  if (fresh.length === 0) throw new Error('no .cpuprofile written');
  // the main thread's profile is the first one written by that pid (the others are loader threads)
  const file = join(profDir, fresh[0]);
  const window = { lastSec: durationSec, skipEndSec: p.skipEndSec };
  const s = summarizeProfile(file, window);
  const title = `${p.title}, \`again\` at concurrency ${connections} (profiled run: ${Math.round(p.load.okPerSec)} req/s, p99 ${p.load.latencyMs.p99} ms)`;
  const requests = p.load.okPerSec * durationSec;
  const md = profileMarkdown(title, s, requests);
  const summaryFile = file.replace(/\.cpuprofile$/, '.md');
  writeFileSync(summaryFile, md);
  const svg = flameGraphSvg(file, { ...window, title: title.replace(/`/g, ''), requests });
  writeFileSync(file.replace(/\.cpuprofile$/, '.svg'), svg);
  const graphDir = join(outDir, 'flamegraphs');
  mkdirSync(graphDir, { recursive: true });
  const flameGraph = join(graphDir, `${p.who}-${p.store.toLowerCase()}${mode === 'full' ? '' : `-${mode}`}.svg`);
  writeFileSync(flameGraph, svg);
  const top = s.byArea.slice(0, 6).map((a) => `${a.area} ${(a.share * 100).toFixed(0)}%`);
  results.profiles.push({ store: p.store, subject: p.title, file: rel(file), summaryFile: rel(summaryFile), flameGraph: rel(flameGraph), top });
  say(`  profile (${p.title}): ${top.join(', ')} -> ${rel(summaryFile)}, flame graph ${rel(flameGraph)} (${Math.round(Buffer.byteLength(svg) / 1024)} KB)`);
}

interface YardstickProc {
  child: Child;
  url: string;
  customerUids: string[];
  /** stops it and drops its scratch database */
  close(): Promise<void>;
}

let yardstickSeq = 0;
let pierSeq = 0;
/** a simulator MID for one Pier start (startPierProc's ownSimulatorMid) */
const pierMid = () => `pb${runTag}${(++pierSeq).toString(36)}`;

/**
 * The yardstick server (bench/yardstick-server.ts) listening on `databaseUrl` (for `pier` tables on
 * PostgreSQL: a scratch database created from that admin URL, dropped by `close`).
 */
async function startYardstick(store: Store, tables: 'pier' | 'minimal', databaseUrl: string, sim: SimulatorProc, nodeArgs: string[] = []): Promise<YardstickProc> {
  let scratch: BenchDatabase | null = null;
  if (store === 'PostgreSQL' && tables === 'pier') {
    scratch = await createDatabase(databaseUrl);
    scratchDbs.add(scratch);
  }
  // customer ids of its own per start: the pairs' yardstick may share a SQLite file with no other, but never ids
  const seq = (++yardstickSeq).toString(36);
  const customerUids = Array.from({ length: preset.customers }, (_, i) => `ys_${runTag}${seq}_${i}`);
  const dropScratch = async () => {
    if (scratch) {
      scratchDbs.delete(scratch);
      await scratch.drop();
    }
  };
  try {
    // a MID of its own: its imp_uids are drawn per database, like each Pier's (registerSimulatorMid)
    const acct = await simulatorAccount(sim.url, `ys${runTag}${seq}`);
    yardstickBundle ??= compiled('bench/yardstick-server.ts');
    const ys = await serveOnFreshPort(
      `yardstick-${tables}-${store}`,
      (await yardstickBundle).file,
      (port) => ({
        YS_PORT: String(port),
        YS_DATABASE_URL: scratch?.url ?? databaseUrl,
        YS_TABLES: tables,
        YS_CUSTOMER_UIDS: customerUids.join(','),
        YS_TPAY_URL: sim.url,
        YS_MID: acct.mid,
        YS_API_KEY: acct.apiKey,
        YS_CARD_TOKEN: acct.cardToken,
      }),
      // migrating a fresh PostgreSQL database takes a few seconds before it listens
      { path: '/', ms: 120_000, nodeArgs },
    );
    const close = async () => {
      await stop(ys.child);
      await dropScratch();
    };
    return { child: ys.child, url: ys.url, customerUids, close };
  } catch (err) {
    await dropScratch();
    throw err;
  }
}

/**
 * The yardstick (bench/yardstick-server.ts) on one store, closed loop at the same concurrency and
 * warm-up as Pier's first path, its CPU counted as Pier's is. `pier`: Pier's two commits on Pier's
 * schema, in a scratch store migrated by Pier's migrations (the yardstick the aims use); `minimal`:
 * two minimal tables of its own (context: what Pier's schema costs). `databaseUrl`: a scratch
 * SQLite file, or the PostgreSQL server's admin URL, on which a scratch database is created (and
 * dropped after) for `pier`, while `minimal` uses the bench database as before.
 */
async function measureYardstick(store: Store, tables: 'pier' | 'minimal', databaseUrl: string, sim: SimulatorProc, opts: { profile?: boolean } = {}) {
  const profDir = join(outDir, 'profiles');
  if (opts.profile) mkdirSync(profDir, { recursive: true });
  const profiledBefore = opts.profile ? new Set(readdirSync(profDir)) : null;
  const ysp = await startYardstick(store, tables, databaseUrl, sim, profiledBefore ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
  const { child: ys, url, customerUids } = ysp;
  try {
    const pids = { server: ys.pid, simulator: sim.child.pid, loadgen: loadgen!.proc.pid };
    const withPg = store === 'PostgreSQL';
    let meter = cpuMeter(pids, withPg);
    const label = tables === 'pier' ? 'yardstick' : 'yardstick on minimal tables';
    const load = await loadgen!.run<LoadResult>(loadSpec(`${label} ${store}`, 'again', url, { customerUids, warmupSec: warmupSec * 3 }), () => (meter = cpuMeter(pids, withPg)));
    const cpu = meter.end();
    if (profiledBefore) {
      const stopAt = Date.now();
      await stop(ys);
      await summarizeFreshProfile(profDir, profiledBefore, { who: 'yardstick', store, title: `the ${label} on ${store}`, load, skipEndSec: (Date.now() - stopAt) / 1000 });
      return;
    }
    (tables === 'pier' ? results.yardstick : results.yardstickMinimalTables!).push({ store, tables, load: { ...load, impUids: [] }, cpu });
    say(`  ${label} ${store}: ${summary(load)}; server ${cpu.cores.server ?? '?'} cores, ${perReqMs(cpu.cores.server, load.okPerSec)?.toFixed(2) ?? '?'} ms/req`);
  } finally {
    await ysp.close();
  }
}

/**
 * `again` on a fresh Pier and on the yardstick, both running, measured in turns (`rounds` pairs,
 * the order alternating), so that each pair's ratio compares two measurements seconds apart
 * instead of minutes apart (decision 0027). The CPU aims take the median of the pairs' ratios.
 */
async function measureCpuPairs(store: Store, pierAt: { databaseUrl: string; dataDir: string }, yardstickDbUrl: string, sim: SimulatorProc, rounds: number) {
  const pier = await startPierProc({ name: `pier-pairs-${store}`, dataDir: pierAt.dataDir, databaseUrl: pierAt.databaseUrl, jtnetUrl: sim.url, logLevel: LOG_LEVEL, ownSimulatorMid: pierMid() });
  let ys: YardstickProc | null = null;
  try {
    const setup = await setupMerchant(pier.url, preset.customers, `${runTag}q${store[0]}`);
    ys = await startYardstick(store, 'pier', yardstickDbUrl, sim);
    const servers = {
      pier: { url: pier.url, pid: pier.child.pid, extra: { token: setup.token, customerUids: setup.customerUids } },
      yardstick: { url: ys.url, pid: ys.child.pid, extra: { customerUids: ys.customerUids } },
    };
    const withPg = store === 'PostgreSQL';
    const measure = async (who: 'pier' | 'yardstick', label = 'pairs') => {
      const { url, pid, extra } = servers[who];
      const pids = { server: pid, simulator: sim.child.pid, loadgen: loadgen!.proc.pid };
      let meter = cpuMeter(pids, withPg);
      const spec = loadSpec(`${store} ${who} (${label})`, 'again', url, { ...extra });
      const load = await loadgen!.run<LoadResult>(spec, () => (meter = cpuMeter(pids, withPg)));
      const cpu = meter.end();
      return { okPerSec: load.okPerSec, serverCpuMsPerReq: perReqMs(cpu.cores.server, load.okPerSec), postgresCpuMsPerReq: perReqMs(cpu.cores.postgres, load.okPerSec), errors: load.errors.total };
    };
    // a turn of each, not counted, before the pairs: a fresh server's first seconds (JIT, caches)
    // cost more per payment than its later ones, and would weigh on whichever went first
    await measure('yardstick', 'warm-up');
    await measure('pier', 'warm-up');
    for (let round = 0; round < rounds; round++) {
      const first = round % 2 === 0 ? 'yardstick' : 'pier';
      const a = await measure(first);
      const b = await measure(first === 'pier' ? 'yardstick' : 'pier');
      const pair = first === 'pier' ? { pier: a, yardstick: b } : { pier: b, yardstick: a };
      (results.cpuPairs ??= []).push({ store, round, first, ...pair });
      const p = pair.pier.serverCpuMsPerReq;
      const y = pair.yardstick.serverCpuMsPerReq;
      say(`  ${store} pair ${round + 1}/${rounds}: Pier ${p?.toFixed(2) ?? '?'} ms, yardstick ${y?.toFixed(2) ?? '?'} ms of CPU per payment (${p && y ? (p / y).toFixed(2) : '?'}×); ${Math.round(pair.pier.okPerSec)} / ${Math.round(pair.yardstick.okPerSec)} req/s`);
    }
  } finally {
    await ys?.close();
    await stop(pier.child);
  }
}

/** One fixed arrival rate against `url` (Pier's `again` or the simulator's payments_token). */
async function openLoopAt(
  who: Store | 'simulator',
  spec: Omit<OpenLoopSpec, 'label' | 'durationSec' | 'warmupSec' | 'uidPrefix'>,
  pids: Record<string, number | undefined>,
  meta: { server?: 'yardstick'; round?: number; baselineFor?: Store } = {},
) {
  const round = meta.round === undefined ? '' : `, round ${meta.round + 1}`;
  const label = `open loop ${meta.server ? `${meta.server} ` : ''}${who}${meta.baselineFor ? ` (baseline for ${meta.baselineFor})` : ''} ${spec.ratePerSec}/s${round}`;
  const withPg = who === 'PostgreSQL';
  let meter = cpuMeter(pids, withPg);
  const full: OpenLoopSpec = { ...spec, label, durationSec, warmupSec, uidPrefix: `o${runTag}${(++specSeq).toString(36)}_` };
  const result = await openloop!.run<OpenLoopResult>(full, () => (meter = cpuMeter(pids, withPg)));
  const cpu: CpuUse = meter.end();
  results.openLoop.push({ who, ...meta, result, cpu });
  say(
    `  ${label}: ${Math.round(result.okPerSec)} answered/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms, ${result.errors.total} errors` +
      `${result.errors.examples[0] ? ` (e.g. ${result.errors.examples[0].slice(0, 160)})` : ''}; generator lag p99 ${result.sendLagMs.p99} ms`,
  );
}

/**
 * Aim 5 on one store (decision 0090): at the judged rate, rounds of three turns measured one right
 * after the other, the order rotating: the simulator alone (the baseline), Pier, and the yardstick
 * (context: Pier's two commits and the simulator call without Pier, started beside Pier on a store
 * of its own). The aim takes the median of the rounds' added p99, so neither side of a difference
 * is measured minutes away from the other. The other rates are reported, measured once.
 */
async function openLoopInTurns(store: Store, pier: PierProc, yardstickDbUrl: string, sim: SimulatorProc, simAcct: SimulatorAccount) {
  const setup = await setupMerchant(pier.url, preset.customers, `${runTag}o${store.slice(0, 1)}`);
  const simulatorAt = (ratePerSec: number, round?: number) =>
    openLoopAt('simulator', { kind: 'sim', url: sim.url, ratePerSec, sim: simAcct }, { simulator: sim.child.pid, loadgen: openloop!.proc.pid }, { round, baselineFor: store });
  const pierAt = (ratePerSec: number, round?: number) =>
    openLoopAt(store, { kind: 'again', url: pier.url, ratePerSec, token: setup.token, customerUids: setup.customerUids }, { pier: pier.child.pid, simulator: sim.child.pid, loadgen: openloop!.proc.pid }, { round });
  if (rates.includes(JUDGED_OPEN_LOOP_RATE)) {
    const ys = await startYardstick(store, 'pier', yardstickDbUrl, sim);
    try {
      const turns = {
        simulator: (round: number) => simulatorAt(JUDGED_OPEN_LOOP_RATE, round),
        pier: (round: number) => pierAt(JUDGED_OPEN_LOOP_RATE, round),
        yardstick: (round: number) =>
          openLoopAt(store, { kind: 'again', url: ys.url, ratePerSec: JUDGED_OPEN_LOOP_RATE, customerUids: ys.customerUids }, { server: ys.child.pid, simulator: sim.child.pid, loadgen: openloop!.proc.pid }, { server: 'yardstick', round }),
      };
      const order = ['simulator', 'pier', 'yardstick'] as const;
      for (let round = 0; round < preset.openLoopRounds; round++) {
        for (let i = 0; i < order.length; i++) await turns[order[(round + i) % order.length]](round);
      }
    } finally {
      await ys.close();
    }
  }
  for (const ratePerSec of rates.filter((r) => r !== JUDGED_OPEN_LOOP_RATE)) {
    await simulatorAt(ratePerSec);
    await pierAt(ratePerSec);
  }
}

async function roundTrips(store: Store, databaseUrl: string, dataDir: string, sim: SimulatorProc) {
  const c = await countRoundTrips({ store, dataDir, databaseUrl, jtnetUrl: sim.url, tag: `${runTag}rt${store.slice(0, 1)}`, payments: preset.countPayments });
  results.roundTrips.push(c);
  say(`  ${store}: ${c.roundTrips.min} round trips (median ${c.roundTrips.median}), ${c.commits.min} commits (median ${c.commits.median}) per \`again\`, over ${c.payments} payments`);
}

const nodeProcesses = (pid: number) => processTree(pid).filter((p) => p.comm === 'node');

/**
 * `again` with PIER_WORKERS=2, then 1. Support is detected, not assumed: with PIER_WORKERS=2 Pier's
 * process tree must grow past one node process within 20 s; otherwise this Pier has no workers.
 */
async function measureWorkers(store: Store, databaseUrl: string, dataDir: string, sim: SimulatorProc): Promise<WorkersRun[] | string> {
  const runs: WorkersRun[] = [];
  for (const workers of [2, 1]) {
    const pier = await startPierProc({ name: `pier-workers${workers}-${store}`, dataDir, databaseUrl, jtnetUrl: sim.url, logLevel: LOG_LEVEL, env: { PIER_WORKERS: String(workers) }, ownSimulatorMid: pierMid() });
    const seen = new Set<number>();
    try {
      const deadline = Date.now() + (workers > 1 ? 20_000 : 0);
      let processes = nodeProcesses(pier.child.pid);
      while (processes.length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        processes = nodeProcesses(pier.child.pid);
      }
      for (const p of processes) seen.add(p.pid);
      if (workers > 1 && processes.length < 2) return `not supported by this Pier (with PIER_WORKERS=2 it ran ${processes.length} node process)`;
      const setup = await setupMerchant(pier.url, preset.customers, `${runTag}w${workers}${store.slice(0, 1)}`);
      const pids = { pier: pier.child.pid, simulator: sim.child.pid, loadgen: loadgen!.proc.pid };
      let meter = cpuMeter(pids, store === 'PostgreSQL');
      const load = await loadgen!.run<LoadResult>(
        loadSpec(`${store} again, PIER_WORKERS=${workers}`, 'again', pier.url, { token: setup.token, customerUids: setup.customerUids, warmupSec: warmupSec * 3 }),
        () => (meter = cpuMeter(pids, store === 'PostgreSQL')),
      );
      const cpu = meter.end();
      runs.push({ store, workers, processes: processes.length, load: { ...load, impUids: [] }, cpu });
      say(`  ${store}, PIER_WORKERS=${workers} (${processes.length} node processes): ${summary(load)}; Pier tree ${cpu.cores.pier ?? '?'} cores`);
    } finally {
      await stop(pier.child);
      // a worker its primary failed to take down must not outlive the measurement
      for (const pid of seen) if (pid !== pier.child.pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  return runs.reverse();
}

/** 2,000 payments at once against a PG that answers after 300 ms. */
async function slowBurst(store: SlowRun['store'], databaseUrl: string, dataDir: string, proxyUrl: string) {
  const pier = await startPierProc({ name: `pier-slow-${store}`, dataDir, databaseUrl, jtnetUrl: proxyUrl, logLevel: LOG_LEVEL, ownSimulatorMid: pierMid() });
  try {
    const setup = await setupMerchant(pier.url, 16, `${runTag}slow${store.slice(0, 1)}`);
    await fetch(`${proxyUrl}/__bench_stats/reset`);
    const before = memoryOf(pier.child.pid);
    const drops0 = listenDrops();
    const spec: BurstSpec = { label: `${store} slow PG burst`, url: pier.url, token: setup.token, count: preset.burst, customerUids: setup.customerUids, uidPrefix: `b${runTag}burst${store.slice(0, 1)}_` };
    const burst = await burster!.run<BurstResult>(spec);
    const after = memoryOf(pier.child.pid);
    const drops1 = listenDrops();
    const listenOverflows = drops0 && drops1 ? drops1.overflows - drops0.overflows : null;
    const stats = (await (await fetch(`${proxyUrl}/__bench_stats`)).json()) as { peakInFlight: number };
    results.slow.push({ store, delayMs: SLOW_DELAY_MS, burst, peakInFlightAtPg: stats.peakInFlight, pierRssBeforeMiB: before?.rssMiB ?? null, pierPeakRssMiB: after?.hwmMiB ?? null, listenOverflows });
    say(
      `  ${store}: ${burst.ok}/${burst.count} paid, ${burst.failed} failed in ${(burst.wallMs / 1000).toFixed(2)} s; peak ${stats.peakInFlight} in flight at the PG; ` +
        `p50 ${Math.round(burst.latencyMs.p50)} ms, p99 ${Math.round(burst.latencyMs.p99)} ms; ${listenOverflows ?? '?'} SYNs dropped at a full listen queue; Pier RSS ${Math.round(before?.rssMiB ?? NaN)} MiB -> peak ${Math.round(after?.hwmMiB ?? NaN)} MiB` +
        (burst.examples[0] ? `; e.g. ${burst.examples[0].slice(0, 160)}` : ''),
    );
  } finally {
    await stop(pier.child);
  }
}

/** The numbers the aims judge, from what this run measured. */
function aimInputs(): AimInputs {
  const again = (load: LoadResult, cpu: CpuUse, server: string): AgainNumbers => ({
    okPerSec: load.okPerSec,
    serverCpuMsPerReq: perReqMs(cpu.cores[server], load.okPerSec),
    postgresCpuMsPerReq: perReqMs(cpu.cores.postgres, load.okPerSec),
  });
  const pier: AimInputs['pier'] = {};
  const yardstick: AimInputs['yardstick'] = {};
  const yardstickMinimalTables: AimInputs['yardstick'] = {};
  const rt: AimInputs['roundTrips'] = {};
  // a run with a handful of answers (a machine too busy to measure on) gives ratios of noise: such a
  // run is reported in the tables but judges no aim ("not measured")
  const MIN_ANSWERS = 50;
  for (const p of results.paths) if (p.path.includes('again') && p.load.ok >= MIN_ANSWERS) pier[p.store] = again(p.load, p.cpu, 'pier');
  for (const y of results.yardstick) if (y.load.ok >= MIN_ANSWERS) yardstick[y.store] = again(y.load, y.cpu, 'server');
  for (const y of results.yardstickMinimalTables ?? []) if (y.load.ok >= MIN_ANSWERS) yardstickMinimalTables[y.store] = again(y.load, y.cpu, 'server');
  // a pair with failed requests judges nothing (its CPU per answer is not a payment's)
  const cpuPairs: AimInputs['cpuPairs'] = {};
  for (const p of results.cpuPairs ?? []) if (p.pier.errors === 0 && p.yardstick.errors === 0) (cpuPairs[p.store] ??= []).push({ pier: p.pier, yardstick: p.yardstick });
  for (const c of results.roundTrips) rt[c.store] = { roundTrips: c.roundTrips.min, commits: c.commits.min };
  const w = results.workers;
  const workers: AimInputs['workers'] = w.available
    ? { supported: true, runs: w.runs.map((r) => ({ store: r.store, workers: r.workers, okPerSec: r.load.okPerSec, cores: r.cpu.cores.pier ?? null })) }
    : w.reason.startsWith('not supported')
      ? { supported: false, reason: w.reason }
      : null;
  const sch = results.schedules.available ? results.schedules.runs : [];
  // delivery from a full queue; a run that did not deliver all N (or delivered one twice) judges nothing
  const drained = (store: Store) => results.webhookDrain?.find((w) => w.store === store && w.received === w.count && w.duplicates === 0)?.perSec ?? null;
  const failed = [
    ...results.paths.map((p) => [`${p.store} ${p.path}`, p.load.errors.total] as const),
    ...results.yardstick.map((y) => [`yardstick ${y.store}`, y.load.errors.total] as const),
    ...(results.yardstickMinimalTables ?? []).map((y) => [`yardstick on minimal tables ${y.store}`, y.load.errors.total] as const),
    ...(results.cpuPairs ?? []).map((p) => [`CPU pair ${p.round + 1} ${p.store}`, p.pier.errors + p.yardstick.errors] as const),
    ...results.openLoop.map((o) => [o.result.label, o.result.errors.total] as const),
    ...(results.workers.available ? results.workers.runs.map((r) => [`${r.store} PIER_WORKERS=${r.workers}`, r.load.errors.total] as const) : []),
    ...results.slow.map((b) => [`slow PG ${b.store}`, b.burst.failed + (b.burst.count - b.burst.ok - b.burst.failed)] as const),
    ...(results.webhookReceiver ? [['webhook receiver', results.webhookReceiver.load.errors.total] as const] : []),
    ...(results.webhookDrain ?? []).map((w) => [`webhooks from a full queue (${w.store})`, w.count - Math.min(w.count, w.distinct) + w.duplicates + (w.signatures.checked - w.signatures.valid)] as const),
  ];
  return {
    pier,
    yardstick,
    yardstickMinimalTables,
    cpuPairs,
    roundTrips: rt,
    workers,
    openLoop: results.openLoop.map((o) => ({ who: o.who, server: o.server, round: o.round, baselineFor: o.baselineFor, ratePerSec: o.result.ratePerSec, p50: o.result.latencyMs.p50, p99: o.result.latencyMs.p99, errors: o.result.errors.total })),
    schedules: sch.length ? { oneProcessSec: sch.find((r) => r.processes === 1)?.executeSec ?? null, threeProcessesSec: sch.find((r) => r.processes === 3)?.executeSec ?? null } : null,
    webhooks: results.webhookReceiver || results.webhookDrain?.length ? { pierPerSec: { SQLite: drained('SQLite'), PostgreSQL: drained('PostgreSQL') }, receiverPerSec: results.webhookReceiver?.load.okPerSec ?? null } : null,
    failedRequests: failed.filter(([, n]) => n > 0).map(([what, n]) => `${what}: ${n}`),
  };
}

try {
  say(`Pier benchmark (${mode}): concurrency ${connections}, ${durationSec} s per measurement; work dir ${work}`);
  const m = results.machine as { nproc: number; cpuModel: string; memoryGiB: number; loadavgAtStart: number[] };
  say(`machine: ${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, node ${process.version}, load average ${m.loadavgAtStart.join(' ')}`);
  if (m.loadavgAtStart[0] > m.nproc * 0.5) results.notes.push(`The machine was busy before the run (load average ${m.loadavgAtStart[0]} on ${m.nproc} CPUs at the start): absolute numbers are noisy; the ratios are measured in the same minutes.`);

  if (withPostgres) {
    try {
      results.postgres = await serverInfo(adminUrl);
    } catch (err) {
      results.postgres = { unavailable: `${adminUrl.replace(/\/\/[^@]*@/, '//')}: ${(err as Error).message}` };
      results.notes.push(`PostgreSQL sections skipped: ${(err as Error).message}`);
    }
  } else {
    results.postgres = { unavailable: '--no-postgres' };
  }
  const pgOk = !('unavailable' in results.postgres);

  phase('starting the tPay simulator and the load generator (separate processes)');
  const sim = await startSimulator(join(work, 'sim'));
  loadgen = await forkWorker('bench/loadgen.ts');
  burster = await forkWorker('bench/burst.ts');
  openloop = await forkWorker('bench/openloop.ts');
  const simAcct = await simulatorAccount(sim.url);

  // ------------------------------------------------ SQLite, with the ceilings measured alongside
  phase('SQLite: starting Pier');
  const sqliteDir = join(work, 'sqlite');
  const sqliteUrl = `sqlite:${join(sqliteDir, 'pier.sqlite')}`;
  let pier: PierProc | null = await startPierProc({ name: 'pier-sqlite', dataDir: sqliteDir, databaseUrl: sqliteUrl, jtnetUrl: sim.url, logLevel: LOG_LEVEL, ownSimulatorMid: pierMid() });
  const probe = await setupMerchant(pier.url, 1, `${runTag}probe`);

  await section('HTTP ceiling', async () => {
    if (!want('http')) return;
    phase('ceiling: bare Node HTTP server answering a fixed JSON body (a real `again` answer)');
    const bodyFile = join(work, 'bare-body.json');
    writeFileSync(bodyFile, probe.sampleAgainBody);
    const { child: bare, url: bareUrl } = await serveOnFreshPort('bare-http', 'bench/bare-server.ts', (port) => ({ BARE_PORT: String(port), BARE_BODY_FILE: bodyFile }), { path: '/' });
    try {
      const pids = { server: bare.pid, loadgen: loadgen!.proc.pid };
      let meter = cpuMeter(pids, false);
      const load = await loadgen!.run<LoadResult>(loadSpec('bare HTTP', 'bare', bareUrl, {}), () => (meter = cpuMeter(pids, false)));
      results.ceilings.bareHttp = { load, cpu: meter.end() };
      say(`  bare HTTP: ${summary(load)}`);
    } finally {
      await stop(bare);
    }
  });

  await section('simulator context', async () => {
    if (mode === 'quick' || !want('simulator')) return;
    phase('context: the tPay simulator alone (payments_token with a billing key)');
    const pids = { simulator: sim.child.pid, loadgen: loadgen!.proc.pid };
    let meter = cpuMeter(pids, false);
    const load = await loadgen!.run<LoadResult>(
      loadSpec('tPay simulator', 'sim', sim.url, { sim: simAcct }),
      () => (meter = cpuMeter(pids, false)),
    );
    results.ceilings.simulator = { load, cpu: meter.end() };
    say(`  simulator: ${summary(load)}`);
  });

  await section('SQLite paths', async () => {
    if (!want('sqlite')) return;
    phase('SQLite: again, onetime, GET');
    await measurePaths('SQLite', pier!, sim.child, 's');
  });
  await section('SDK and checkout', async () => {
    if (!want('sdk')) return;
    phase('SDK bundle and checkout first paint (issue #3)');
    results.sdk = await sdkSection(pier!.url, /IMP\.init\('(imp\d{8})'\)/.exec(pier!.child.tail())?.[1] ?? null);
    const s = results.sdk;
    say(`  SDK: ${'missing' in s.sdk ? s.sdk.missing : `${s.sdk.path} ${s.sdk.gzipBytes} bytes gzipped`}; first paint: ${'missing' in s.firstPaint ? s.firstPaint.missing : `checkout ${Math.round(s.firstPaint.fcpMs)} ms`}`);
  });
  await section('open loop SQLite', async () => {
    if (!want('openloop')) return;
    phase(`open loop on SQLite: at ${JUDGED_OPEN_LOOP_RATE}/s the simulator alone, Pier and the yardstick in turns (${preset.openLoopRounds} rounds), then ${rates.filter((r) => r !== JUDGED_OPEN_LOOP_RATE).join(', ') || 'no other rate'}; ${durationSec} s each`);
    const dir = join(work, 'yardstick-openloop');
    mkdirSync(dir, { recursive: true });
    await openLoopInTurns('SQLite', pier!, `sqlite:${join(dir, 'yardstick.sqlite')}`, sim, simAcct);
  });
  await stop(pier.child);
  pier = null;
  await section('yardstick SQLite', async () => {
    if (!want('yardstick')) return;
    phase("yardstick on SQLite: node:http, Pier's two commits on Pier's schema (billing key ⋈ channel + payments row; approval + webhook event), one simulator call");
    const dir = join(work, 'yardstick');
    mkdirSync(dir, { recursive: true });
    await measureYardstick('SQLite', 'pier', `sqlite:${join(dir, 'yardstick.sqlite')}`, sim);
    phase('context: the yardstick on two minimal tables of its own (SQLite), right after');
    await measureYardstick('SQLite', 'minimal', `sqlite:${join(dir, 'yardstick-minimal.sqlite')}`, sim);
  });
  await section('CPU pairs SQLite', async () => {
    if (!want('pairs')) return;
    phase(`CPU per \`again\` on SQLite, Pier and the yardstick in turns (${preset.cpuPairs} pairs, both running)`);
    const dir = join(work, 'pairs-sqlite');
    mkdirSync(dir, { recursive: true });
    await measureCpuPairs('SQLite', { databaseUrl: `sqlite:${join(dir, 'pier.sqlite')}`, dataDir: dir }, `sqlite:${join(dir, 'yardstick.sqlite')}`, sim, preset.cpuPairs);
  });
  await section('round trips SQLite', async () => {
    if (!want('roundtrips')) return;
    phase(`round trips and commits per \`again\` on SQLite (a counting Pier, ${preset.countPayments} payments one at a time)`);
    const dir = join(work, 'count-sqlite');
    await roundTrips('SQLite', `sqlite:${join(dir, 'pier.sqlite')}`, dir, sim);
  });
  await section('workers SQLite', async () => {
    if (!want('workers')) return;
    phase('PIER_WORKERS: `again` on SQLite with 2 workers, then 1');
    const dir = join(work, 'workers-sqlite');
    const r = await measureWorkers('SQLite', `sqlite:${join(dir, 'pier.sqlite')}`, dir, sim);
    results.workers = typeof r === 'string' ? { available: false, reason: r } : { available: true, runs: r };
    if (typeof r === 'string') say(`  ${r}`);
  });
  if (withProfile && want('sqlite')) {
    await section('profile SQLite', async () => {
      phase('profiling Pier on SQLite during `again` (node --cpu-prof, a separate run)');
      await profileAgain('SQLite', { dataDir: sqliteDir, databaseUrl: sqliteUrl, jtnetUrl: sim.url }, sim.child);
      if (want('yardstick')) {
        phase('profiling the yardstick on SQLite the same way (a separate run)');
        await measureYardstick('SQLite', 'pier', `sqlite:${join(work, 'yardstick-profiled.sqlite')}`, sim, { profile: true });
      }
    });
  }

  // ------------------------------------------------ PostgreSQL
  if (pgOk && ['postgres', 'yardstick', 'pairs', 'openloop', 'roundtrips', 'workers', 'commit', 'slow', 'schedules', 'webhooks'].some(want)) {
    await section('PostgreSQL paths', async () => {
      benchDb = await createDatabase(adminUrl);
      phase(`PostgreSQL: created database ${benchDb.name}; starting Pier`);
      const pgDir = join(work, 'pg');
      const pgPier = await startPierProc({ name: 'pier-pg', dataDir: pgDir, databaseUrl: benchDb.url, jtnetUrl: sim.url, logLevel: LOG_LEVEL, ownSimulatorMid: pierMid() });
      try {
        // starting Pier migrated the database, which the raw-commit ceiling needs too
        const setup = want('postgres') ? await measurePaths('PostgreSQL', pgPier, sim.child, 'p') : await setupMerchant(pgPier.url, 1, `${runTag}p`);
        if (want('openloop')) {
          phase(`open loop on PostgreSQL: at ${JUDGED_OPEN_LOOP_RATE}/s the simulator alone, Pier and the yardstick (a scratch database) in turns (${preset.openLoopRounds} rounds), then ${rates.filter((r) => r !== JUDGED_OPEN_LOOP_RATE).join(', ') || 'no other rate'}`);
          await openLoopInTurns('PostgreSQL', pgPier, adminUrl, sim, simAcct);
        }
        if (want('schedules')) {
          phase('schedules and webhooks (issue #4): probing');
          const avail = await schedulesAvailable(pgPier, setup.token, setup.customerUids[0], mode === 'smoke' ? 6 : 15);
          results.schedules = avail.ok ? { available: true, runs: [] } : { available: false, reason: avail.reason };
        }
      } finally {
        await stop(pgPier.child);
      }
    });
    await section('yardstick PostgreSQL', async () => {
      if (!want('yardstick')) return;
      if (!benchDb) throw new Error('no bench database');
      phase("yardstick on PostgreSQL: Pier's two commits on Pier's schema in a scratch database, pool of 10 as Pier");
      await measureYardstick('PostgreSQL', 'pier', adminUrl, sim);
      phase('context: the yardstick on two minimal tables of its own in the bench database (PostgreSQL), right after');
      await measureYardstick('PostgreSQL', 'minimal', benchDb.url, sim);
    });
    await section('CPU pairs PostgreSQL', async () => {
      if (!want('pairs')) return;
      phase(`CPU per \`again\` on PostgreSQL, Pier and the yardstick in turns (${preset.cpuPairs} pairs, both running; databases of their own)`);
      const pierDb = await createDatabase(adminUrl);
      scratchDbs.add(pierDb);
      try {
        await measureCpuPairs('PostgreSQL', { databaseUrl: pierDb.url, dataDir: join(work, 'pairs-pg') }, adminUrl, sim, preset.cpuPairs);
      } finally {
        scratchDbs.delete(pierDb);
        await pierDb.drop();
      }
    });
    await section('round trips PostgreSQL', async () => {
      if (!want('roundtrips')) return;
      if (!benchDb) throw new Error('no bench database');
      phase(`round trips and commits per \`again\` on PostgreSQL (a counting Pier, ${preset.countPayments} payments one at a time)`);
      await roundTrips('PostgreSQL', benchDb.url, join(work, 'pg'), sim);
    });
    await section('workers PostgreSQL', async () => {
      if (!want('workers')) return;
      if (!benchDb) throw new Error('no bench database');
      if (!results.workers.available) {
        say(`[${clock()}] PIER_WORKERS on PostgreSQL: skipped (${results.workers.reason})`);
        return;
      }
      phase('PIER_WORKERS: `again` on PostgreSQL with 2 workers, then 1');
      const r = await measureWorkers('PostgreSQL', benchDb.url, join(work, 'pg'), sim);
      if (typeof r === 'string') throw new Error(`PIER_WORKERS worked on SQLite but not on PostgreSQL: ${r}`);
      results.workers.runs.push(...r);
    });
    await section('raw commit ceiling', async () => {
      if (!want('commit')) return;
      if (!benchDb) throw new Error('no bench database');
      phase(`ceiling: raw commit rate on the same PostgreSQL (INSERT + UPDATE per payment, ${connections} clients)`);
      const rate = await commitRate(benchDb.url, connections, durationSec, work, (l) => progress(`raw commit: ${l}`));
      results.ceilings.rawCommit = rate;
      say(`  raw commit (${rate.tool}, ${rate.clients} clients): ${Math.round(rate.perSec).toLocaleString('en-US')} payments/s`);
      if (mode === 'full') {
        const atPool: CommitRate = await commitRate(benchDb.url, 10, Math.min(durationSec, 5), work, (l) => progress(`raw commit (10 clients): ${l}`));
        results.ceilings.rawCommitAtPierPool = atPool;
        say(`  raw commit (${atPool.tool}, 10 clients = Pier's pool): ${Math.round(atPool.perSec).toLocaleString('en-US')} payments/s`);
      }
    });
    if (withProfile && want('postgres') && benchDb) {
      await section('profile PostgreSQL', async () => {
        phase('profiling Pier on PostgreSQL during `again` (node --cpu-prof, a separate run)');
        await profileAgain('PostgreSQL', { dataDir: join(work, 'pg'), databaseUrl: benchDb!.url, jtnetUrl: sim.url }, sim.child);
        if (want('yardstick')) {
          phase('profiling the yardstick on PostgreSQL the same way (a separate run)');
          await measureYardstick('PostgreSQL', 'pier', adminUrl, sim, { profile: true });
        }
      });
    }
  } else {
    results.ceilings.rawCommit = { unavailable: 'PostgreSQL not reachable' };
  }

  // ------------------------------------------------ slow PG
  await section('slow PG', async () => {
    if (!want('slow')) return;
    phase(`slow PG: ${preset.burst.toLocaleString('en-US')} payments at once, simulator answering after ${SLOW_DELAY_MS} ms`);
    const { child: proxy, url: proxyUrl } = await serveOnFreshPort(
      'delay-proxy',
      'bench/delay-proxy.ts',
      (port) => ({ PROXY_PORT: String(port), PROXY_TARGET: sim.url, PROXY_DELAY_MS: String(SLOW_DELAY_MS) }),
      { path: '/__bench_stats' },
    );
    try {
      const slowDir = join(work, 'slow-sqlite');
      await slowBurst('SQLite', `sqlite:${join(slowDir, 'pier.sqlite')}`, slowDir, proxyUrl);
      if (pgOk && benchDb) await slowBurst('PostgreSQL', benchDb.url, join(work, 'pg'), proxyUrl);
    } finally {
      await stop(proxy);
    }
  });

  // ------------------------------------------------ webhooks (issue #14 aim 6) and schedules (issue #4)
  const schedulesRun = results.schedules.available && benchDb && want('schedules');
  if (want('webhooks') || schedulesRun) {
    await section('webhook receiver', async () => {
      phase(`webhook receiver alone: the plain load generator posting webhook bodies at concurrency ${connections}`);
      const receiver = await startReceiver();
      try {
        const pids = { loadgen: loadgen!.proc.pid };
        let meter = cpuMeter(pids, false);
        // the receiver runs in this process: its CPU is this process's over the measured window
        let cpu0 = process.cpuUsage();
        const load = await loadgen!.run<LoadResult>(loadSpec('webhook receiver', 'webhook', new URL(receiver.url).origin, {}), () => {
          meter = cpuMeter(pids, false);
          cpu0 = process.cpuUsage();
        });
        const used = process.cpuUsage(cpu0);
        const cpu = meter.end();
        const receiverCpuMsPerReq = load.okPerSec > 0 ? Math.round(((used.user + used.system) / 1000 / cpu.seconds / load.okPerSec) * 1000) / 1000 : null;
        results.webhookReceiver = { load: { ...load, impUids: [] }, cpu, receiverCpuMsPerReq };
        say(`  receiver: ${summary(load)}; receiver CPU ${receiverCpuMsPerReq ?? '?'} ms/request`);
      } finally {
        receiver.server.close();
        receiver.server.closeAllConnections();
      }
    });
  }
  if (want('webhooks')) {
    await section('webhooks from a full queue', async () => {
      const stores: Array<{ store: Store; databaseUrl: string; dataDir: string }> = [{ store: 'SQLite', databaseUrl: `sqlite:${join(work, 'webhooks-sqlite', 'pier.sqlite')}`, dataDir: join(work, 'webhooks-sqlite') }];
      // the PostgreSQL Pier's data dir: its vault opens the demo merchant's webhook secret
      if (benchDb) stores.push({ store: 'PostgreSQL', databaseUrl: benchDb.url, dataDir: join(work, 'pg') });
      for (const s of stores) {
        phase(`webhooks from a full queue: ${preset.webhooks.toLocaleString('en-US')} pending deliveries to a local receiver, one Pier process on ${s.store}`);
        const r = await webhookDrain({ ...s, jtnetUrl: sim.url, count: preset.webhooks, timeoutSec: mode === 'full' ? 180 : 60, tag: `${runTag}${s.store.slice(0, 1)}`, progress });
        results.webhookDrain!.push(r);
        say(
          `  ${s.store}: ${r.received}/${r.count} received, ${r.duplicates} duplicates, signatures ${r.signatures.valid}/${r.signatures.checked} valid; ` +
            `${r.perSec?.toFixed(0) ?? '—'}/s first → last (${r.totalPerSec?.toFixed(0) ?? '—'}/s from the commit); CPU ms/delivery Pier ${r.cpuMsPerDelivery.pier ?? '?'}, PostgreSQL ${r.cpuMsPerDelivery.postgres ?? '—'}, receiver ${r.cpuMsPerDelivery.receiver ?? '?'}${r.note ? `; ${r.note}` : ''}`,
        );
      }
    });
  }
  if (schedulesRun) {
    await section('schedules', async () => {
      const runs: ScheduleRun[] = [];
      for (const processes of [1, 3]) {
        phase(`schedules: ${scheduleCount.toLocaleString('en-US')} due at once, ${processes} Pier process(es) on PostgreSQL, webhooks to a local receiver`);
        const r = await runSchedules({
          processes,
          count: scheduleCount,
          dataDir: join(work, 'pg'),
          databaseUrl: benchDb!.url,
          jtnetUrl: sim.url,
          tag: runTag,
          // creating 10,000 takes about a second; the lead keeps creation out of the measured time
          leadSec: 3 + Math.ceil(scheduleCount / 1000),
          timeoutSec: mode === 'full' ? 120 : 60,
          progress,
        });
        runs.push(r);
        say(`  ${processes} process(es): executed in ${r.executeSec?.toFixed(1) ?? '—'} s, ${r.paid} paid, ${r.failed} failed, ${r.duplicates} duplicates; ${r.webhooks.received} webhooks (${r.webhooks.perSec?.toFixed(0) ?? '—'}/s); CPU ms/schedule Pier ${r.cpuMsPerSchedule.pier ?? '?'}, PostgreSQL ${r.cpuMsPerSchedule.postgres ?? '?'}; machine busy ${r.machineBusyCores ?? '?'} cores (other ${r.otherCores ?? '?'})${r.note ? `; ${r.note}` : ''}`);
      }
      results.schedules = { available: true, runs };
    });
  } else {
    if (!want('schedules')) results.schedules = { available: false, reason: 'skipped (--only/--skip)' };
    else if (!benchDb && !results.schedules.available) results.schedules = { available: false, reason: 'needs PostgreSQL' };
    say(`[${clock()}] schedules and webhooks (issue #4): ${results.schedules.available ? 'needs PostgreSQL' : results.schedules.reason}`);
  }

  // ------------------------------------------------ aims (issue #14)
  results.aims = computeAims(aimInputs());
} catch (err) {
  results.errors.push(`run aborted: ${(err as Error).stack ?? (err as Error).message}`);
  say(`run aborted: ${(err as Error).stack ?? (err as Error).message}`);
} finally {
  (results.machine as Record<string, unknown>).loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  results.finishedAt = new Date().toISOString();
  await cleanup();
}

// ---------------------------------------------------------------- output
mkdirSync(outDir, { recursive: true });
// latest.json / latest.md are the last full run (the README shows it, scripts read `aims` from it);
// quick and smoke runs have their own files, so they never pass for a full run
const latest = mode === 'full' ? 'latest' : `latest-${mode}`;
const jsonFile = join(outDir, `${latest}.json`);
writeFileSync(jsonFile, `${JSON.stringify(results, null, 2)}\n`);
const md = renderMarkdown(results);
const mdFile = join(outDir, `${latest}.md`);
writeFileSync(mdFile, md);
say(`[${clock()}] done: ${rel(jsonFile)} and ${rel(mdFile)}\n`);
process.stdout.write(`${md}\n`);

if (mode === 'smoke') {
  // the smoke run checks the bench itself: every section produced numbers and nothing failed
  const problems = [...results.errors];
  // only what was asked for: `--smoke --only openloop` checks the open loop, not the paths
  if (want('http') && !results.ceilings.bareHttp) problems.push('no HTTP ceiling');
  const pathsWanted = (want('sqlite') ? 3 : 0) + (want('postgres') && withPostgres && !('unavailable' in results.postgres) ? 3 : 0);
  if (results.paths.length < pathsWanted) problems.push(`only ${results.paths.length} of ${pathsWanted} path measurements`);
  for (const p of results.paths) if (p.load.errors.total > 0 || p.load.ok === 0) problems.push(`${p.store} ${p.path}: ${p.load.ok} ok, ${p.load.errors.total} errors`);
  for (const s of results.slow) if (s.burst.failed > 0 || s.burst.ok !== s.burst.count) problems.push(`slow PG ${s.store}: ${s.burst.ok}/${s.burst.count}`);
  const stores = withPostgres && !('unavailable' in results.postgres) ? 2 : 1;
  if (want('yardstick') && results.yardstick.length < stores) problems.push(`yardstick measured on ${results.yardstick.length} of ${stores} stores`);
  if (want('yardstick') && (results.yardstickMinimalTables ?? []).length < stores) problems.push(`yardstick on minimal tables measured on ${(results.yardstickMinimalTables ?? []).length} of ${stores} stores`);
  for (const y of [...results.yardstick, ...(results.yardstickMinimalTables ?? [])]) if (y.load.errors.total > 0 || y.load.ok === 0) problems.push(`yardstick (${y.tables}) ${y.store}: ${y.load.ok} ok, ${y.load.errors.total} errors`);
  if (want('openloop') && !results.openLoop.some((o) => o.who !== 'simulator' && o.server !== 'yardstick')) problems.push('no open-loop measurement of Pier');
  if (want('roundtrips') && results.roundTrips.length < stores) problems.push(`round trips counted on ${results.roundTrips.length} of ${stores} stores`);
  for (const a of results.aims) if (a.name.startsWith('every request') && a.met === false) problems.push(a.detail);
  if (problems.length > 0) {
    console.error(`smoke check FAILED:\n- ${problems.join('\n- ')}`);
    process.exit(1);
  }
  console.error('smoke check passed');
}
process.exit(results.errors.length > 0 ? 1 : 0);
