/** The benchmark's markdown report, built from the results JSON. */
import type { BurstResult } from '../burst.js';
import type { ScheduleRun, SdkResult, Section } from '../extras.js';
import type { WebhookDrainRun } from './webhook-drain.js';
import type { LoadResult } from '../loadgen.js';
import type { CpuUse } from './machine.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CommitRate } from './pg.js';
import type { OpenLoopResult } from '../openloop.js';
import { openLoopBaseline, type Aim } from './aims.js';
import type { RoundTripCount } from './round-trips.js';

export interface PathRun {
  store: 'SQLite' | 'PostgreSQL';
  path: string;
  load: LoadResult;
  cpu: CpuUse;
  pierMemMiB: { rssMiB: number; hwmMiB: number } | null;
}

export interface SlowRun {
  store: 'SQLite' | 'PostgreSQL';
  delayMs: number;
  burst: BurstResult;
  peakInFlightAtPg: number;
  pierRssBeforeMiB: number | null;
  pierPeakRssMiB: number | null;
  /** TCP listen-queue overflows during the burst (machine-wide TcpExt counter): SYNs the kernel dropped */
  listenOverflows: number | null;
}

export type { Aim };

/** A closed-loop `again` run of the yardstick server, at the same concurrency as Pier's. */
export interface YardstickRun {
  store: 'SQLite' | 'PostgreSQL';
  /**
   * `pier`: Pier's two commits on Pier's schema (the yardstick since decision 0021; the aims use it);
   * `minimal`: two minimal tables of its own (context). Absent in results written before 0021,
   * whose `yardstick` runs were all on minimal tables.
   */
  tables?: 'pier' | 'minimal';
  load: LoadResult;
  cpu: CpuUse;
}

/** A fixed arrival rate against Pier (per store) or the simulator alone. */
export interface OpenLoopRun {
  who: 'SQLite' | 'PostgreSQL' | 'simulator';
  /** on a store: Pier (absent in older results) or the yardstick (context for the p99 aim) */
  server?: 'pier' | 'yardstick';
  /** at the judged rate, the round of turns it was measured in (decision 0090); absent: measured once */
  round?: number;
  /** the simulator alone: the store whose Pier it is the baseline of (absent in results before 0090) */
  baselineFor?: 'SQLite' | 'PostgreSQL';
  result: OpenLoopResult;
  cpu: CpuUse;
}

export interface WorkersRun {
  store: 'SQLite' | 'PostgreSQL';
  workers: number;
  /** node processes in Pier's process tree (primary + workers) */
  processes: number;
  load: LoadResult;
  /** `pier` = the whole process tree */
  cpu: CpuUse;
}

/** One turn of the interleaved measurement: Pier's and the yardstick's `again`, one right after the other. */
export interface CpuPair {
  store: 'SQLite' | 'PostgreSQL';
  round: number;
  /** which server was measured first in this round (the order alternates) */
  first: 'pier' | 'yardstick';
  pier: { okPerSec: number; serverCpuMsPerReq: number | null; postgresCpuMsPerReq: number | null; errors: number };
  yardstick: { okPerSec: number; serverCpuMsPerReq: number | null; postgresCpuMsPerReq: number | null; errors: number };
}

export interface Results {
  version: 2;
  startedAt: string;
  finishedAt: string;
  mode: 'full' | 'quick' | 'smoke';
  settings: { connections: number; durationSec: number; warmupSec: number; burst: number; slowDelayMs: number; logLevel: string };
  machine: Record<string, unknown>;
  postgres: Record<string, unknown> | { unavailable: string };
  ceilings: {
    bareHttp: { load: LoadResult; cpu: CpuUse } | null;
    rawCommit: CommitRate | { unavailable: string } | null;
    rawCommitAtPierPool: CommitRate | null;
    simulator: { load: LoadResult; cpu: CpuUse } | null;
  };
  paths: PathRun[];
  /** the yardstick the aims are judged against: Pier's two commits on Pier's schema (see YardstickRun.tables) */
  yardstick: YardstickRun[];
  /** context: the same server on two minimal tables of its own (absent before decision 0021) */
  yardstickMinimalTables?: YardstickRun[];
  /**
   * `again` on Pier and on the yardstick measured in turns, both servers running (decision 0027):
   * the CPU aims take the median of these pairs' ratios, and the throughput aim too since decision
   * 0089. Absent in runs before 0027.
   */
  cpuPairs?: CpuPair[];
  openLoop: OpenLoopRun[];
  roundTrips: RoundTripCount[];
  workers: Section<{ runs: WorkersRun[] }>;
  /** the webhook receiver's own accept rate, from the plain load generator */
  webhookReceiver: { load: LoadResult; cpu: CpuUse; receiverCpuMsPerReq?: number | null } | null;
  /** Pier's webhook delivery from a full queue, per store */
  webhookDrain?: WebhookDrainRun[];
  slow: SlowRun[];
  aims: Aim[];
  schedules: Section<{ runs: ScheduleRun[] }>;
  sdk: SdkResult;
  /** `--profile` runs; `flameGraph` (absent in runs before it) is the SVG under `<out>/flamegraphs/` */
  profiles: Array<{ store: string; subject: string; file: string; summaryFile: string; flameGraph?: string; top: string[] }>;
  notes: string[];
  errors: string[];
}

const n0 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.round(x).toLocaleString('en-US'));
const ms = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Number.isInteger(x) ? String(x) : x.toFixed(1));
const n1 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(1));
/** CPU milliseconds per answered request: the number least disturbed by other work on the machine */
const perReq = (cores: number | undefined, rps: number) => (cores !== undefined && rps > 0 ? ((cores * 1000) / rps).toFixed(2) : '—');
const busy = (c: CpuUse) => `${n1(c.machineBusyCores)} (${n1(c.otherCores)})`;
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? (a / b).toFixed(2) : '—');

export function renderMarkdown(r: Results): string {
  const m = r.machine as { nproc: number; cpuModel: string; memoryGiB: number; node: string; kernel: string; loadavgAtStart: number[]; loadavgAtEnd?: number[] };
  const pgInfo = r.postgres as Record<string, unknown>;
  const bare = r.ceilings.bareHttp?.load.rps ?? null;
  const commit = r.ceilings.rawCommit && 'perSec' in r.ceilings.rawCommit ? r.ceilings.rawCommit : null;
  const out: string[] = [];
  out.push(`## Pier benchmark, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC (${r.mode})`);
  out.push('');
  out.push(
    `Machine: ${m.nproc} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}; ` +
      ('unavailable' in pgInfo
        ? `PostgreSQL unavailable (${String(pgInfo.unavailable)}). `
        : `PostgreSQL ${String(pgInfo.server_version).split(' ')[0]} (synchronous_commit ${pgInfo.synchronous_commit}, fsync ${pgInfo.fsync}, ${pgInfo.wal_sync_method}). `) +
      `Load average ${m.loadavgAtStart.join(' ')} at start, ${(m.loadavgAtEnd ?? []).join(' ')} at the end.`,
  );
  out.push('');
  const others = [...r.paths, ...r.yardstick, ...(r.yardstickMinimalTables ?? []), ...r.openLoop, ...(r.workers.available ? r.workers.runs : [])]
    .map((x) => x.cpu)
    .concat([r.ceilings.bareHttp?.cpu, r.ceilings.simulator?.cpu].filter((c): c is CpuUse => !!c))
    .map((c) => c.otherCores ?? 0);
  out.push(
    `Other work on the machine during the measurements: up to ${Math.max(0, ...others).toFixed(1)} of ${m.nproc} cores (last column of the table). ` +
      'The `server CPU ms/req` column is the number least disturbed by it.',
  );
  out.push('');
  out.push(
    `Concurrency ${r.settings.connections}, ${r.settings.durationSec} s per measurement after ${r.settings.warmupSec} s of warm-up (${r.settings.warmupSec * 3} s before the first path on each Pier); ` +
      `Pier, the tPay simulator, the load generator (autocannon) and each ceiling run in their own processes; Pier logs at \`${r.settings.logLevel}\`. ` +
      'Every request has its own merchant_uid; an answer counts only with HTTP 2xx and V1 code 0 (and, sampled, status `paid` for the merchant_uid sent).',
  );
  out.push('');
  out.push('| what | store | req/s | p50 ms | p99 ms | max ms | errors | ÷ bare HTTP | ÷ raw commit | ÷ yardstick | server CPU (cores) | server CPU ms/req | PostgreSQL CPU ms/req | machine busy (other work), cores |');
  out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const p of r.paths) {
    const l = p.load;
    out.push(
      `| ${p.path} | ${p.store} | ${n0(l.okPerSec)} | ${ms(l.latencyMs.p50)} | ${ms(l.latencyMs.p99)} | ${ms(l.latencyMs.max)} | ${l.errors.total} | ${ratio(l.okPerSec, bare)} | ${p.store === 'PostgreSQL' ? ratio(l.okPerSec, commit?.perSec) : '—'} | ${p.path.includes('again') ? ratio(l.okPerSec, r.yardstick.find((y) => y.store === p.store)?.load.okPerSec) : '—'} | ${n1(p.cpu.cores.pier)} | ${perReq(p.cpu.cores.pier, l.okPerSec)} | ${perReq(p.cpu.cores.postgres, l.okPerSec)} | ${busy(p.cpu)} |`,
    );
  }
  if (r.ceilings.bareHttp) {
    const l = r.ceilings.bareHttp.load;
    out.push(`| ceiling: bare Node HTTP, fixed JSON | — | ${n0(l.okPerSec)} | ${ms(l.latencyMs.p50)} | ${ms(l.latencyMs.p99)} | ${ms(l.latencyMs.max)} | ${l.errors.total} | 1.00 | — | — | ${n1(r.ceilings.bareHttp.cpu.cores.server)} | ${perReq(r.ceilings.bareHttp.cpu.cores.server, l.okPerSec)} | — | ${busy(r.ceilings.bareHttp.cpu)} |`);
  }
  if (commit) {
    out.push(`| ceiling: raw commit, INSERT + UPDATE per payment (${commit.tool}, ${commit.clients} clients) | PostgreSQL | ${n0(commit.perSec)} | — | — | — | 0 | — | 1.00 | — | — | — | — | — |`);
  } else if (r.ceilings.rawCommit && 'unavailable' in r.ceilings.rawCommit) {
    out.push(`| ceiling: raw commit | PostgreSQL | unavailable: ${r.ceilings.rawCommit.unavailable} | | | | | | | | | | | |`);
  }
  if (r.ceilings.rawCommitAtPierPool) {
    const c = r.ceilings.rawCommitAtPierPool;
    out.push(`| context: raw commit with ${c.clients} clients (Pier's pool size) | PostgreSQL | ${n0(c.perSec)} | — | — | — | 0 | — | ${ratio(c.perSec, commit?.perSec)} | — | — | — | — | — |`);
  }
  if (r.ceilings.simulator) {
    const l = r.ceilings.simulator.load;
    out.push(`| context: tPay simulator alone, payments_token | — | ${n0(l.okPerSec)} | ${ms(l.latencyMs.p50)} | ${ms(l.latencyMs.p99)} | ${ms(l.latencyMs.max)} | ${l.errors.total} | ${ratio(l.okPerSec, bare)} | — | — | ${n1(r.ceilings.simulator.cpu.cores.simulator)} | ${perReq(r.ceilings.simulator.cpu.cores.simulator, l.okPerSec)} | — | ${busy(r.ceilings.simulator.cpu)} |`);
  }
  const yardstickRow = (what: string, y: YardstickRun, vsYardstick: string) => {
    const l = y.load;
    out.push(
      `| ${what} | ${y.store} | ${n0(l.okPerSec)} | ${ms(l.latencyMs.p50)} | ${ms(l.latencyMs.p99)} | ${ms(l.latencyMs.max)} | ${l.errors.total} | ${ratio(l.okPerSec, bare)} | ${y.store === 'PostgreSQL' ? ratio(l.okPerSec, commit?.perSec) : '—'} | ${vsYardstick} | ${n1(y.cpu.cores.server)} | ${perReq(y.cpu.cores.server, l.okPerSec)} | ${perReq(y.cpu.cores.postgres, l.okPerSec)} | ${busy(y.cpu)} |`,
    );
  };
  for (const y of r.yardstick) {
    // results written before decision 0021 had only the yardstick on minimal tables
    yardstickRow(
      y.tables === 'pier' ? "yardstick: node:http, Pier's 2 commits on Pier's schema + 1 simulator call (`again`)" : 'yardstick: node:http, 2 commits on 2 minimal tables + 1 simulator call (`again`)',
      y,
      '1.00',
    );
  }
  for (const y of r.yardstickMinimalTables ?? []) {
    yardstickRow('context: the yardstick on 2 minimal tables of its own (2 commits + 1 simulator call)', y, ratio(y.load.okPerSec, r.yardstick.find((x) => x.store === y.store)?.load.okPerSec));
  }
  out.push('');
  if ((r.yardstickMinimalTables ?? []).length > 0) {
    out.push(
      "The yardstick makes Pier's two commits of an `again` on Pier's own schema (the billing key ⋈ channel read and the full `payments` row; the approval update, the `webhook_events` row and the webhook targets read), with hand-written prepared SQL; the aims below are judged against it. " +
        'The context row is the same server on two minimal tables of its own: the difference between the two is what Pier\'s schema costs (docs/decisions/0021-yardstick-same-commits.md).',
    );
    out.push('');
  }
  out.push(renderAims(r.aims));
  out.push('');
  out.push(...renderOpenLoop(r.openLoop));
  out.push(...renderRoundTrips(r.roundTrips));
  out.push(...renderWorkers(r.workers));
  if (r.webhookReceiver) {
    const l = r.webhookReceiver.load;
    const rc = r.webhookReceiver.receiverCpuMsPerReq;
    out.push(
      `Webhook receiver alone (the one Pier delivers to below), driven by the plain load generator at concurrency ${l.connections}: ${n0(l.okPerSec)} requests/s, p99 ${ms(l.latencyMs.p99)} ms, ${l.errors.total} errors` +
        `${rc ? `; receiver CPU ${rc.toFixed(3)} ms/request, load generator CPU ${perReq(r.webhookReceiver.cpu.cores.loadgen, l.okPerSec)} ms/request` : ''}.`,
    );
    out.push('');
  }
  if (r.webhookDrain && r.webhookDrain.length > 0) {
    out.push(
      'Webhooks from a full queue (issue #14 aim 6): N deliveries to the local receiver written into an idle, running Pier in one transaction (Pier\'s own outbox code), then timed until the receiver has all N; ' +
        'before them, N / 5 are delivered to another receiver and not measured (warm-up: a Pier just started sends its first thousands slower). ' +
        'pickup = commit → first request (the runner\'s idle pause); rate = N over first → last request; duplicates by `webhook-id`; signatures verified on a sample with the merchant\'s secret. CPU ms per delivery over the drain.',
    );
    out.push('');
    out.push('| store | queued | received | duplicates | signatures valid | pickup s | first → last s | deliveries/s | commit → last, /s | Pier CPU ms | PostgreSQL CPU ms | receiver CPU ms | machine busy (other work), cores |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const w of r.webhookDrain) {
      const c = w.cpuMsPerDelivery;
      out.push(
        `| ${w.store} | ${w.count} | ${w.received} | ${w.duplicates} | ${w.signatures.valid}/${w.signatures.checked} | ${n1(w.pickupSec)} | ${n1(w.spanSec)} | ${n0(w.perSec)} | ${n0(w.totalPerSec)} | ${c.pier?.toFixed(2) ?? '—'} | ${c.postgres?.toFixed(2) ?? '—'} | ${c.receiver?.toFixed(2) ?? '—'} | ${w.cpu ? busy(w.cpu) : '—'} |${w.note ? ` ${w.note}` : ''}`,
      );
    }
    out.push('');
  }
  if (r.slow.length > 0) {
    out.push(`Slow PG: the simulator answers ${r.slow[0].delayMs} ms after each request (a delaying proxy in front of it); ${r.slow[0].burst.count.toLocaleString('en-US')} \`again\` payments sent at once, each on its own connection.`);
    out.push('');
    out.push('| store | sent | paid | failed | peak in flight at the PG | SYNs dropped (listen queue full) | wall s | p50 ms | p99 ms | max ms | Pier RSS before MiB | Pier peak RSS (VmHWM) MiB |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of r.slow) {
      const b = s.burst;
      out.push(`| ${s.store} | ${b.count} | ${b.ok} | ${b.failed} | ${s.peakInFlightAtPg} | ${s.listenOverflows ?? '—'} | ${(b.wallMs / 1000).toFixed(2)} | ${n0(b.latencyMs.p50)} | ${n0(b.latencyMs.p99)} | ${n0(b.latencyMs.max)} | ${n0(s.pierRssBeforeMiB)} | ${n0(s.pierPeakRssMiB)} |`);
    }
    out.push('');
  }
  if (!r.schedules.available) out.push(`Schedules and webhooks (issue #4): ${r.schedules.reason}.`);
  else {
    const first = r.schedules.runs[0];
    out.push(
      `Schedules and webhooks (issue #4): ${first ? first.schedules.toLocaleString('en-US') : 'N'} schedules of one billing key, all due at the same second, after a warm-up fifth run to the end by the same processes, ` +
        'each with `notice_url` = a local receiver; execute s = from the due time until every schedule has a final payment; duplicates = payments beyond one per merchant_uid; ' +
          'CPU ms per schedule over the execute time (Pier: every Pier process together; PostgreSQL: every postgres process on the machine).',
    );
    out.push('');
    out.push('| Pier processes | schedules | create s | execute s | executed/s | paid | failed | duplicates | webhooks received | webhooks/s | Pier CPU ms | PostgreSQL CPU ms | machine busy (other work), cores |');
    out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of r.schedules.runs) {
      // (runs recorded before the CPU columns have none)
      const cpu = s.cpuMsPerSchedule ?? { pier: null, postgres: null };
      out.push(
        `| ${s.processes} | ${s.schedules} | ${n1(s.createSec)} | ${n1(s.executeSec)} | ${n0(s.executedPerSec)} | ${s.paid} | ${s.failed} | ${s.duplicates} | ${s.webhooks.received} | ${n0(s.webhooks.perSec)} | ` +
          `${cpu.pier ?? '—'} | ${cpu.postgres ?? '—'} | ${s.machineBusyCores ?? '—'} (${s.otherCores ?? '—'}) |${s.note ? ` ${s.note}` : ''}`,
      );
    }
    const withClaims = r.schedules.runs.filter((s) => s.claims);
    if (withClaims.length > 0) {
      out.push('');
      out.push("Claims over each run, every Pier process's `/metrics` summed (`pier_job_claims_total`, `pier_job_claimed_rows_total`): claims that leased rows, claims that found none, rows per claim that found some.");
      out.push('');
      out.push('| Pier processes | schedules: claims with rows | empty | rows per claim | webhooks: claims with rows | empty | rows per claim |');
      out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      const cells = (c: { found: number; empty: number; rows: number } | undefined) => (c ? `${c.found} | ${c.empty} | ${c.found > 0 ? n1(c.rows / c.found) : '—'}` : '— | — | —');
      for (const s of withClaims) out.push(`| ${s.processes} | ${cells(s.claims!.schedules)} | ${cells(s.claims!.webhooks)} |`);
    }
  }
  out.push('');
  const sdk = r.sdk.sdk;
  const fp = r.sdk.firstPaint;
  out.push(
    'SDK and checkout (issue #3): ' +
      ('missing' in sdk ? `SDK bundle: ${sdk.missing}` : `SDK bundle ${sdk.path}: ${(sdk.gzipBytes / 1024).toFixed(1)} kB gzipped (gzip -9; ${(sdk.bytes / 1024).toFixed(1)} kB raw; aim < 15 kB)`) +
      '; ' +
      ('missing' in fp ? `first paint: ${fp.missing}` : `first contentful paint of the checkout ${fp.page} in headless chromium: ${n0(fp.fcpMs)} ms (load event ${n0(fp.loadMs)} ms; median of ${fp.runs} cold loads; aim < 1 s)`) +
      '.',
  );
  if (r.profiles.length > 0) {
    out.push('', 'CPU profiles of the `again` load (`--profile`; self time by area, the summary next to the `.cpuprofile`):', '');
    for (const p of r.profiles) {
      // the report is written next to flamegraphs/, so the link is relative to it
      const graph = p.flameGraph ? `; flame graph [${basename(p.flameGraph)}](flamegraphs/${basename(p.flameGraph)})` : '';
      out.push(`- ${p.subject}: ${p.top.join(', ')}; summary \`${p.summaryFile}\`${graph}`);
    }
  }
  if (r.notes.length > 0 || r.errors.length > 0) {
    out.push('');
    for (const note of r.notes) out.push(`- ${note}`);
    for (const e of r.errors) out.push(`- **error:** ${e.split('\n').slice(0, 3).join(' ').slice(0, 400)}`);
  }
  out.push('');
  return out.join('\n');
}

export function renderAims(aims: Aim[]): string {
  const out = ['| aim (issue #14) | target | measured | met | from |', '| --- | --- | ---: | --- | --- |'];
  for (const a of aims) {
    out.push(`| ${a.name} | ${a.target} ${a.unit} | ${a.measured === null ? '—' : `${a.measured} ${a.unit}`} | ${a.met === null ? 'n/a' : a.met ? 'yes' : '**no**'} | ${a.detail.replace(/\|/g, '\\|')} |`);
  }
  return out.join('\n');
}

function renderOpenLoop(runs: OpenLoopRun[]): string[] {
  if (runs.length === 0) return [];
  const out = [
    'Open loop: `again` (Pier) or `payments_token` (the simulator alone) sent at a constant rate whatever the answers do; latency from each request\'s *scheduled* send time (no coordinated omission). Pier\'s added latency = Pier − the simulator alone at the same rate, in the same round. At the judged rate each store has rounds of three turns one right after the other, the order rotating (decision 0090): the simulator alone, Pier, and the yardstick (context: the same two commits and simulator call without Pier, what this design adds on this machine); the other rates are measured once.',
    '',
    '| who | rate /s | round | sent | answered /s | p50 ms | p90 ms | p99 ms | max ms | errors | added p50 ms | added p99 ms | generator lag p99 ms | server CPU ms/req | PostgreSQL CPU ms/req |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const o of runs) {
    const l = o.result;
    const sim = o.who === 'simulator' ? null : openLoopBaseline(runs, o, (x) => x.result.ratePerSec)?.result;
    const cores = o.who === 'simulator' ? o.cpu.cores.simulator : o.server === 'yardstick' ? o.cpu.cores.server : o.cpu.cores.pier;
    const who = o.who === 'simulator' ? `tPay simulator alone${o.baselineFor ? ` (${o.baselineFor}'s baseline)` : ''}` : o.server === 'yardstick' ? `yardstick on ${o.who} (context)` : `Pier on ${o.who}`;
    out.push(
      `| ${who} | ${l.ratePerSec} | ${o.round === undefined ? '—' : o.round + 1} | ${l.sent} | ${n0(l.okPerSec)} | ${ms(l.latencyMs.p50)} | ${ms(l.latencyMs.p90)} | ${ms(l.latencyMs.p99)} | ${ms(l.latencyMs.max)} | ${l.errors.total} | ${sim ? ms(l.latencyMs.p50 - sim.latencyMs.p50) : '—'} | ${sim ? ms(l.latencyMs.p99 - sim.latencyMs.p99) : '—'} | ${ms(l.sendLagMs.p99)} | ${perReq(cores, l.okPerSec)} | ${perReq(o.cpu.cores.postgres, l.okPerSec)} |`,
    );
  }
  out.push('');
  return out;
}

function renderRoundTrips(counts: RoundTripCount[]): string[] {
  if (counts.length === 0) return [];
  const out = ['Database round trips and commits per `again`, counted at the driver (bench/lib/count-queries.mjs; the method of test/api/round-trips.test.ts), one payment at a time:', ''];
  out.push('| store | payments counted | round trips (fewest / median) | commits (fewest / median) | round trips of one payment |', '| --- | ---: | ---: | ---: | --- |');
  for (const c of counts) {
    out.push(`| ${c.store} | ${c.payments} | ${c.roundTrips.min} / ${c.roundTrips.median} | ${c.commits.min} / ${c.commits.median} | ${c.sample.map((q) => `\`${q.slice(0, 90).replace(/\|/g, '\\|')}\``).join('<br>')} |`);
  }
  out.push('');
  return out;
}

function renderWorkers(w: Results['workers']): string[] {
  if (!w.available) return [`PIER_WORKERS (1 vs 2 workers): ${w.reason}.`, ''];
  const out = ['`again` at the same concurrency with PIER_WORKERS=1 and 2; CPU is the sum over Pier\'s process tree (primary + workers).', ''];
  out.push('| store | PIER_WORKERS | Pier processes | req/s | p50 ms | p99 ms | errors | Pier CPU (cores, whole tree) | Pier CPU ms/req | PostgreSQL CPU ms/req | machine busy (other work), cores |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const x of w.runs) {
    const l = x.load;
    out.push(`| ${x.store} | ${x.workers} | ${x.processes} | ${n0(l.okPerSec)} | ${ms(l.latencyMs.p50)} | ${ms(l.latencyMs.p99)} | ${l.errors.total} | ${n1(x.cpu.cores.pier)} | ${perReq(x.cpu.cores.pier, l.okPerSec)} | ${perReq(x.cpu.cores.postgres, l.okPerSec)} | ${busy(x.cpu)} |`);
  }
  out.push('');
  return out;
}

// `npx tsx bench/lib/report.ts <results.json> [out.md]` renders a results file again
const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  const md = renderMarkdown(JSON.parse(readFileSync(process.argv[2], 'utf8')) as Results);
  if (process.argv[3]) writeFileSync(process.argv[3], md);
  else process.stdout.write(md);
}
