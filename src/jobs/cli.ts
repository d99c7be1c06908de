/**
 * CLI commands for background work (registered by src/cli/index.ts): the webhook delivery log and
 * settings, `pier listen`, sandbox time and sandbox virtual-account deposits.
 */
import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { CliError, cliSimulatorTools, requireMerchant, type CliContext } from '../cli/context.js';
import { formatTime, textTable } from '../cli/format.js';
import { findMerchant, listMerchants, DEMO_IMP_KEY } from '../core/merchants/merchants.js';
import { sandboxVbankDeposit } from '../core/virtual-accounts/deposit.js';
import { advanceSandboxClock, formatDuration, parseDuration, readSandboxOffset, resetSandboxClock, SandboxClock } from '../core/sandbox/clock.js';
import { getDelivery, listDeliveries, redeliver, deliveryCounts } from '../webhooks/deliveries.js';
import { DbListenSource, HttpListenSource, runListen, type ListenSource } from '../webhooks/listen.js';
import { WebhookSender } from '../webhooks/sender.js';
import { sandboxAutoCancelStatus, setSandboxAutoCancel } from './handlers/sandbox-auto-cancel.js';
import { rotateWebhookSecret, setWebhookSettings, webhookSettings } from '../webhooks/settings.js';

type WithContext = <T>(fn: (ctx: CliContext) => Promise<T>, opts?: { needPg?: boolean }) => Promise<T>;

const out = (text = '') => process.stdout.write(`${text}\n`);

/** In sandbox mode the CLI works on Pier's sandbox clock, like the server does. */
export async function usePierClock(ctx: CliContext): Promise<CliContext> {
  if (ctx.config.mode === 'sandbox' && !(ctx.deps.clock instanceof SandboxClock)) {
    const clock = new SandboxClock(ctx.deps.store);
    await clock.refresh();
    ctx.deps.clock = clock;
  }
  return ctx;
}

/** An option's value; commander's InvalidArgumentError makes the message name the option. */
function positiveInt(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a positive whole number.');
  return Number(value);
}

export function registerJobCommands(program: Command, withContext: WithContext): void {
  // ---- webhooks ---------------------------------------------------------------------------
  const webhooks = program.command('webhooks').description("merchants' webhook endpoints and signing secrets; the delivery log; redelivery");

  webhooks
    .command('endpoint')
    .description("show or set a merchant's webhook URL (V1 console Notification URL) and content type")
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .option('--url <url>', 'where webhooks go (per-payment notice_url still replaces it)')
    .option('--no-url', 'remove the URL (only per-payment notice_url receive webhooks)')
    .addOption(new Option('--content-type <type>', 'body encoding').choices(['json', 'form']))
    .action(async (code: string, opts: { url?: string | false; contentType?: 'json' | 'form' }) => {
      await withContext(async (c) => {
        const { deps } = await usePierClock(c);
        const merchant = await requireMerchant(deps, code);
        const change: { url?: string | null; contentType?: 'json' | 'form' } = {};
        if (opts.url !== undefined) change.url = opts.url === false ? null : opts.url;
        if (opts.contentType) change.contentType = opts.contentType;
        const s = Object.keys(change).length > 0 ? await setWebhookSettings(deps, merchant.id, change) : await webhookSettings(deps, merchant.id);
        out(`merchant      ${merchant.merchant_code}`);
        out(`url           ${s.url ?? '(none: only payments with a notice_url get webhooks)'}`);
        out(`content type  ${s.contentType === 'form' ? 'application/x-www-form-urlencoded' : 'application/json'}`);
        out('signing       Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature); secret: `pier webhooks secret`');
      });
    });

  webhooks
    .command('secret')
    .description("print a merchant's webhook signing secret (whsec_…; created on first use)")
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .option('--rotate', 'replace it; deliveries from now on are signed with the new secret')
    .action(async (code: string, opts: { rotate?: boolean }) => {
      await withContext(async (c) => {
        const { deps } = await usePierClock(c);
        const merchant = await requireMerchant(deps, code);
        const s = opts.rotate ? await rotateWebhookSecret(deps, merchant.id) : await webhookSettings(deps, merchant.id);
        out(s.secret);
      });
    });

  webhooks
    .command('list')
    .description('webhook deliveries, newest first (one per event and target URL)')
    .option('--merchant <code>', 'only this merchant')
    .option('--imp-uid <imp_uid>', 'only this payment')
    .option('--merchant-uid <merchant_uid>', 'only this order')
    .addOption(new Option('--state <state>', 'only this state').choices(['pending', 'sending', 'delivered', 'failed']))
    .option('--limit <N>', 'at most N', positiveInt, 20)
    .action(async (opts: { merchant?: string; impUid?: string; merchantUid?: string; state?: string; limit: number }) => {
      await withContext(async ({ deps }) => {
        const merchant = opts.merchant ? await requireMerchant(deps, opts.merchant) : null;
        const { total, capped, list } = await listDeliveries(deps.store, { merchantId: merchant?.id, impUid: opts.impUid, merchantUid: opts.merchantUid, state: opts.state, limit: opts.limit });
        if (list.length === 0) {
          out('(no webhook deliveries)');
          return;
        }
        out(
          textTable(
            ['ID', 'CREATED', 'EVENT', 'IMP_UID', 'STATE', 'TRIES', 'LAST', 'URL'],
            list.map((d) => [
              d.id,
              formatTime(d.created_at),
              d.status,
              d.imp_uid,
              d.state,
              `${d.attempts}/${d.max_attempts}`,
              d.last_status_code !== null ? String(d.last_status_code) : d.last_error ? d.last_error.slice(0, 30) : '-',
              d.listener_id ? `${d.url} (pier listen)` : d.url,
            ]),
          ),
        );
        const counts = await deliveryCounts(deps.store, merchant?.id);
        out('');
        out(`${list.length} of ${capped ? `more than ${total.toLocaleString('en-US')}` : total} shown; by state: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      });
    });

  webhooks
    .command('show')
    .description('one delivery: its event, target and every attempt (status code, error, duration)')
    .argument('<deliveryId>', 'delivery id (whd_…)')
    .action(async (id: string) => {
      await withContext(async ({ deps }) => {
        const d = await getDelivery(deps.store, id);
        if (!d) throw new CliError(`no webhook delivery "${id}" (see \`pier webhooks list\`)`);
        out(`delivery   ${d.id}  (${d.state}, ${d.attempts}/${d.max_attempts} attempts)`);
        out(`event      ${d.event_id}  ${d.status} ${d.imp_uid} (${d.merchant_uid})${d.cancellation_id ? ` cancellation ${d.cancellation_id}` : ''}  [${d.cause}]`);
        out(`url        ${d.url}${d.listener_id ? ` (pier listen ${d.listener_id})` : ''}  ${d.content_type}`);
        out(`created    ${formatTime(d.created_at)}${d.delivered_at ? `   delivered ${formatTime(d.delivered_at)}` : ''}${d.state === 'pending' && d.next_attempt_at ? `   next try ${formatTime(d.next_attempt_at)}` : ''}`);
        out('');
        if (d.attempt_log.length === 0) out('(not tried yet)');
        else
          out(
            textTable(
              ['#', 'STARTED', 'STATUS', 'DURATION', 'ERROR', 'RESPONSE'],
              d.attempt_log.map((a) => [String(a.attempt), formatTime(a.started_at), a.status_code !== null ? String(a.status_code) : '-', `${a.duration_ms} ms`, a.error ?? '', (a.response_excerpt ?? '').replace(/\s+/g, ' ').slice(0, 60)]),
            ),
          );
      });
    });

  webhooks
    .command('redeliver')
    .description('send a delivery (or every delivery of an event, msg_…) again, to the URL it was made for')
    .argument('<id>', 'delivery id (whd_…) or event id (msg_…)')
    .action(async (id: string) => {
      await withContext(async (c) => {
        const { deps } = await usePierClock(c);
        const created = await redeliver(deps, id).catch((err) => {
          throw new CliError((err as Error).message);
        });
        out(`queued ${created.length} new deliver${created.length === 1 ? 'y' : 'ies'}: ${created.join(', ')} (a running Pier sends them within a second)`);
      });
    });

  // ---- pier listen --------------------------------------------------------------------------
  program
    .command('listen')
    .summary("forward a merchant's webhooks to a local URL while developing (no tunnel needed)")
    .description(
      "Forward a merchant's webhooks to a local URL while developing, like `stripe listen`. Pier records a delivery for this " +
        'session with every new payment event; this command fetches them (from the database, or with --api from a running ' +
        "Pier's API) and POSTs each to --forward-to itself, signed with the merchant's secret. Pier never connects to your " +
        'machine, so no tunnel is needed. Stop with Ctrl-C.',
    )
    .requiredOption('--forward-to <url>', 'local endpoint, e.g. http://localhost:3000/webhook')
    .option('--merchant <code>', 'merchant code (default: the only merchant, or the sandbox demo merchant)')
    .option('--api <url>', "a running Pier's base URL: use its API instead of the database (env PIER_API_URL)")
    .option('--imp-key <key>', 'with --api: the REST API key (env PIER_IMP_KEY)')
    .option('--imp-secret <secret>', 'with --api: the REST API secret; other users of this machine see it in `ps`: prefer env PIER_IMP_SECRET')
    .option('--interval <ms>', 'pause between polls', positiveInt, 1000)
    .option('--max-events <N>', 'exit after forwarding N deliveries', positiveInt)
    .action(async (opts: { forwardTo: string; merchant?: string; api?: string; impKey?: string; impSecret?: string; interval: number; maxEvents?: number }) => {
      const api = opts.api ?? process.env.PIER_API_URL;
      const sender = new WebhookSender();
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const listen = async (source: ListenSource, who: string) => {
        const session = await source.open(opts.forwardTo);
        out(`Ready! Forwarding webhooks of ${who} to ${opts.forwardTo} (session ${session.listenerId}, ${session.contentType})`);
        out(`Signing secret: ${session.secret}  (verify with the standardwebhooks library)`);
        out('Ctrl-C to stop.');
        const n = await runListen(source, opts.forwardTo, { sender, onLine: out, intervalMs: opts.interval, maxDeliveries: opts.maxEvents, signal: abort.signal });
        out(`forwarded ${n} deliver${n === 1 ? 'y' : 'ies'}; session closed`);
      };
      try {
        if (api) {
          const key = opts.impKey ?? process.env.PIER_IMP_KEY;
          const secret = opts.impSecret ?? process.env.PIER_IMP_SECRET;
          if (!key || !secret) throw new CliError('--api needs --imp-key and --imp-secret (or PIER_IMP_KEY, PIER_IMP_SECRET)');
          await listen(new HttpListenSource(api, key, secret), `REST key ${key} at ${api}`);
        } else {
          await withContext(async ({ deps }) => {
            const merchant = await pickMerchant(deps, opts.merchant);
            await listen(new DbListenSource(deps, merchant.id), merchant.merchant_code);
          });
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await sender.close();
      }
    });

  // ---- sandbox time -------------------------------------------------------------------------
  const sandbox = program.command('sandbox').description('sandbox-mode tools: virtual-account deposits, the clock, the daily auto-cancel');
  registerDepositCommand(sandbox, withContext);
  registerAutoCancelCommand(sandbox, withContext);
  const clock = sandbox
    .command('clock')
    .description(
      "Pier's sandbox clock: the real time plus an offset stored in the database, shared by every Pier process and the CLI. " +
        "Advance it to make a schedule due next month run now (a sandbox channel's: a live channel's schedules wait for the real time, decision 0121).",
    );

  const sandboxOnly = (ctx: CliContext) => {
    if (ctx.config.mode !== 'sandbox') throw new CliError('the sandbox clock exists in sandbox mode only (PIER_MODE=sandbox)');
  };
  const show = async (ctx: CliContext) => {
    const offset = await readSandboxOffset(ctx.deps.store);
    const real = Date.now();
    out(`pier time   ${formatTime(Math.floor((real + offset) / 1000))}`);
    out(`real time   ${formatTime(Math.floor(real / 1000))}`);
    out(`offset      ${offset === 0 ? '0 (not moved)' : `+${formatDuration(offset)}`}`);
  };

  clock
    .command('show')
    .description("print Pier's time, the real time and the offset")
    .action(async () => {
      await withContext(async (ctx) => {
        sandboxOnly(ctx);
        await show(ctx);
      });
    });

  clock
    .command('advance')
    .description('move the clock forward; running Pier processes follow within a second (access tokens may expire)')
    .argument('<duration>', 'e.g. 30d, 12h, 90m, 45s, 1d12h')
    .action(async (text: string) => {
      let ms: number;
      try {
        ms = parseDuration(text);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      if (ms <= 0) throw new CliError('give a positive duration, e.g. 30d');
      await withContext(async (ctx) => {
        sandboxOnly(ctx);
        try {
          await advanceSandboxClock(ctx.deps.store, ms);
        } catch (err) {
          if (err instanceof RangeError) throw new CliError(err.message);
          throw err;
        }
        out(`advanced the sandbox clock by ${formatDuration(ms)}`);
        await show(ctx);
      });
    });

  clock
    .command('reset')
    .description('back to the real time')
    .action(async () => {
      await withContext(async (ctx) => {
        sandboxOnly(ctx);
        await resetSandboxClock(ctx.deps.store);
        out('the sandbox clock is back to the real time');
        await show(ctx);
      });
    });
}

/** `pier sandbox deposit <imp_uid> [--amount N] [--depositor name]` */
export function registerDepositCommand(sandbox: Command, withContext: WithContext): void {
  sandbox
    .command('deposit')
    .summary("deposit into an issued virtual account at its PG's simulator")
    .description(
      "The buyer's transfer into a virtual account issued in the payment window, made at the simulator of the account's PG " +
        "(the one its connector calls: the PG's configured address, or the embedded simulator of a running sandbox server). " +
        'The simulator checks the amount and the deadline like a bank, then notifies Pier, which marks the payment paid ' +
        "and sends the `paid` webhook. Sandbox mode only; a PG whose simulator takes no deposits is named.",
    )
    .argument('<imp_uid>', 'the virtual account payment, e.g. imp_123456789012')
    .option('--amount <N>', "KRW deposited (default: the payment's amount)", (v: string) => {
      if (!/^[1-9]\d{0,11}$/.test(v)) throw new CliError(`--amount: expected a positive whole number of KRW, got "${v}"`);
      return Number(v);
    })
    .option('--depositor <name>', "the depositor's name (up to 40 characters)")
    .action(async (impUid: string, opts: { amount?: number; depositor?: string }) => {
      if (opts.depositor !== undefined && opts.depositor.length > 40) throw new CliError('--depositor: up to 40 characters');
      await withContext(
        async (ctx) => {
          if (ctx.config.mode !== 'sandbox') throw new CliError('sandbox deposits exist in sandbox mode only (PIER_MODE=sandbox)');
          const r = await sandboxVbankDeposit(ctx.deps, cliSimulatorTools(ctx.deps), { impUid, amount: opts.amount, depositorName: opts.depositor ?? null });
          const sim = r.simulator as { tid?: string; error?: string; notice?: { url?: string; delivered?: boolean; status?: number | null; error?: string; body?: string } | null };
          if (!r.ok) {
            throw new CliError(`the simulator refused the deposit into ${impUid} (HTTP ${r.simulatorStatus}): ${sim.error ?? 'no reason given'}; payment status ${r.payment.status}`);
          }
          const amount = opts.amount ?? r.payment.amount;
          out(`deposited ${amount} KRW into ${r.payment.imp_uid} (merchant_uid ${r.payment.merchant_uid}, account ${r.payment.vbank_num ?? '-'}, tid ${sim.tid ?? '-'})`);
          const n = sim.notice;
          if (n?.delivered) out(`the PG notified Pier at ${n.url}: HTTP ${n.status}`);
          out(`payment     ${r.payment.imp_uid} is ${r.payment.status}${r.payment.paid_at ? ` (paid_at ${formatTime(r.payment.paid_at)})` : ''}`);
          if (r.payment.status !== 'paid' && n === undefined) {
            // a simulator that notifies after it answers (NICE's webhook): Pier records the deposit when its notice arrives
            out('the PG notifies Pier after it answers: the payment is paid once its notice reaches the Pier server');
          } else if (r.payment.status !== 'paid') {
            const why = !n ? 'the virtual account has no notify URL' : `${n.url} answered ${n.status ?? n.error ?? '?'}${n.body ? `: ${n.body}` : ''}`;
            throw new CliError(
              `the PG took the deposit but Pier has not recorded it (${why}). Is the Pier server running?` + (r.renotify ? ` The simulator sends the notice again on ${r.renotify}` : ''),
            );
          }
        },
        { needPg: true },
      );
    });
}

/** `pier sandbox auto-cancel on|off|status` */
export function registerAutoCancelCommand(sandbox: Command, withContext: WithContext): void {
  sandbox
    .command('auto-cancel')
    .description(
      'daily auto-cancel of sandbox payments at 23:30 KST (Pier time), like a PG test mode; off by default. ' +
        'Every sandbox payment paid that KST day is cancelled through Pier (virtual accounts excepted), without webhooks.',
    )
    .addArgument(new Argument('<state>', 'on, off or status').choices(['on', 'off', 'status']))
    .action(async (state: 'on' | 'off' | 'status') => {
      await withContext(async (ctx) => {
        if (ctx.config.mode !== 'sandbox') throw new CliError('auto-cancel exists in sandbox mode only (PIER_MODE=sandbox)');
        if (state !== 'status') await setSandboxAutoCancel(ctx.deps, state === 'on');
        const s = await sandboxAutoCancelStatus(ctx.deps);
        out(`sandbox auto-cancel is ${s.on ? 'on (23:30 KST daily)' : 'off'}${s.lastDay ? `; last run for ${s.lastDay}` : ''}`);
      });
    });
}

/** The merchant named, else the only one, else the sandbox demo merchant. */
async function pickMerchant(deps: CliContext['deps'], code: string | undefined) {
  if (code) return requireMerchant(deps, code);
  const all = await listMerchants(deps);
  if (all.length === 1) return (await findMerchant(deps, all[0].id))!;
  const demo = all.find((m) => m.imp_keys.includes(DEMO_IMP_KEY));
  if (demo) return (await findMerchant(deps, demo.id))!;
  throw new CliError(`${all.length} merchants: name one with --merchant <code> (see \`pier merchant list\`)`);
}
