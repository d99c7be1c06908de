/**
 * Pier's admin CLI: `npx pier …` (bin/pier.js) or `npm run pier -- …`.
 * Reads the server's configuration (env / PIER_CONFIG) and works on the database directly; it
 * needs no running server. Only `reconcile` calls the PG.
 */
import { realpathSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PierError } from '../api/errors.js';
import { ConfigError } from '../config/index.js';
import { addChannel, channelNotifyUrl, channelRulesFor, listChannels, removeChannel, soleProvider, type ChannelKind } from '../core/merchants/channels.js';
import { CONNECTOR_MODULES } from '../connectors/registry.js';
import { channelUsage, updateChannel } from '../core/console/channels.js';
import type { Deps } from '../core/deps.js';
import { createMerchant, DEMO_IMP_KEY, listMerchants, rotateApiKey } from '../core/merchants/merchants.js';
import {
  consoleUserProblems,
  createConsoleUser,
  findConsoleUser,
  generatePassword,
  listConsoleUsers,
  LOCKOUT_THRESHOLD,
  MIN_PASSWORD_LENGTH,
  passwordProblem,
  removeConsoleUser,
  setConsoleUserPassword,
  unlockConsoleUser,
} from '../core/console/users.js';
import { consoleNow } from '../core/console/sessions.js';
import { reconcileGraceSeconds, reconcileInDoubt, reconcileInDoubtCancels } from '../core/payments/reconcile.js';
import type { PgChannelsTable } from '../store/types.js';
import { compatTableMarkdown, writeCompatTable } from './compat-table.js';
import { CliError, cliSimulatorTools, openCliContext, requireMerchant, type CliContext } from './context.js';
import { formatTime, textTable, yesNo } from './format.js';
import { registerJobCommands, usePierClock } from '../jobs/cli.js';
import { checkVaultOpensData, rewrapVault } from '../vault/sealed-data.js';
import { forgetBillingKey } from '../core/billing-keys/billing-keys.js';
import { registerSandboxNotifyUrls } from '../core/sandbox/notify-urls.js';

const out = (text = '') => process.stdout.write(`${text}\n`);

async function withContext<T>(fn: (ctx: CliContext) => Promise<T>, opts: { needPg?: boolean } = {}): Promise<T> {
  const ctx = await openCliContext(opts);
  try {
    await usePierClock(ctx); // sandbox: the CLI works on Pier's (possibly advanced) clock, like the server
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds (0 or more).');
  return Number(value);
}

function positiveInt(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a positive whole number.');
  return Number(value);
}

const pgSelector = (c: Pick<PgChannelsTable, 'provider' | 'mid'>) => `${c.provider}.${c.mid}`;

function channelRows(channels: PgChannelsTable[]): string {
  if (channels.length === 0) return '(no channels: add one with `pier channel add`)';
  return textTable(
    ['ID', 'PG', 'KIND', 'MODE', 'DEFAULT', 'BASE URL', 'NAME'],
    channels.map((c) => [c.id, pgSelector(c), c.kind, c.sandbox ? 'sandbox' : 'live', yesNo(c.is_default), c.base_url ?? '-', c.name]),
  );
}

/**
 * The URLs an operator registers in a PG's own admin for its server-to-server notices (NICE's
 * webhook, tPay's deposit notice URL), one line per channel whose PG needs one, with where in that
 * admin. The payment window carries none (decision 0086).
 */
function notifyUrlLines(deps: Deps, publicUrl: string, channels: PgChannelsTable[]): string[] {
  return channels
    .filter((c) => deps.connectors.channelRules(c.provider)?.registeredNotifyUrl)
    .map((c) => {
      const where = deps.connectors.channelRules(c.provider)?.notifyUrlSetting?.ko;
      return `  ${c.id}  ${pgSelector(c)} (${c.kind})  ${channelNotifyUrl(publicUrl, c.id)}${where ? `   (${deps.connectors.label(c.provider)}: ${where})` : ''}`;
    });
}

/**
 * A sandbox channel added or removed: the simulator its PG's connector calls is told again where the
 * account's notices go (its oldest sandbox channel's URL), as Pier's sandbox does at its start. A
 * simulator embedded in a sandbox server that is not running cannot be told now; the server does
 * it when it starts.
 */
async function sandboxNotifyUrlLines(deps: Deps, publicUrl: string, c: Pick<PgChannelsTable, 'provider' | 'mid'>) {
  if (deps.mode !== 'sandbox') return;
  for (const r of await registerSandboxNotifyUrls(deps, cliSimulatorTools(deps), publicUrl, { provider: c.provider, mid: c.mid })) {
    if (r.ok) out(`the simulator sends ${pgSelector(r)}'s notices to ${r.url}`);
    else out(`the simulator could not be told where ${pgSelector(r)}'s notices go (${r.error}); the sandbox server tells it when it starts`);
  }
}

/** Everything piped to stdin, without one trailing line break. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** The secret of a new channel: the flag's value, stdin when it is `-`, else PIER_CHANNEL_SECRET (kept out of shell history). */
async function channelSecret(flag: string | undefined): Promise<string> {
  if (flag === '-') return readStdin();
  const secret = flag ?? process.env.PIER_CHANNEL_SECRET;
  if (!secret) {
    throw new CliError(
      "required option '--secret <key>' not specified (--secret-key for NICE; give --secrets-stdin and pipe `secret=…` in, or give \"-\" to read it alone from stdin, or set PIER_CHANNEL_SECRET)",
    );
  }
  return secret;
}

/** The names `--secrets-stdin` reads, by the option each stands for (decision 0112). */
const STDIN_SECRET_NAMES: Record<string, 'secret' | 'cancelPassword'> = { secret: 'secret', 'secret-key': 'secret', 'cancel-password': 'cancelPassword' };

/**
 * A new channel's secrets piped in as `name=value` lines (`secret` or `secret-key`, `cancel-password`;
 * `_` for `-` too), so that none is on the command line, where every user of the machine reads it
 * (`ps`, /proc/<pid>/cmdline) and the shell's history keeps it. Blank lines and `#` comments are
 * skipped; a value is taken as written after the first `=`. Errors name the line, never its value.
 */
function parseStdinSecrets(text: string): { secret?: string; cancelPassword?: string } {
  const found: { secret?: string; cancelPassword?: string } = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = (eq < 0 ? '' : line.slice(0, eq)).trim().toLowerCase().replace(/_/g, '-');
    const field = STDIN_SECRET_NAMES[name];
    if (!field) {
      throw new CliError(`--secrets-stdin: line ${i + 1} is not \`secret=…\`, \`secret-key=…\` or \`cancel-password=…\` (one name=value a line)`);
    }
    if (found[field] !== undefined) throw new CliError(`--secrets-stdin: ${field === 'secret' ? 'the secret (secret or secret-key)' : 'cancel-password'} is given twice (line ${i + 1})`);
    found[field] = line.slice(eq + 1);
  }
  return found;
}

/** A new channel's merchant key and cancel password, from stdin (`--secrets-stdin`) or the options. */
async function channelSecrets(opts: { secretsStdin?: boolean; secret?: string; secretKey?: string; cancelPassword?: string }): Promise<{ merchantKey: string; cancelPassword: string }> {
  // two names of one secret: which one was meant cannot be told, and taking either stored the other's typo
  if (opts.secretKey !== undefined && opts.secret !== undefined) throw new CliError('--secret and --secret-key name the same secret (tPay\'s merchant key, NICE\'s secretKey): give one');
  const flag = opts.secretKey ?? opts.secret;
  if (opts.cancelPassword === '-') throw new CliError('--cancel-password: to read it from stdin give --secrets-stdin and pipe `cancel-password=…` in');
  if (!opts.secretsStdin) return { merchantKey: await channelSecret(flag), cancelPassword: opts.cancelPassword ?? '' };
  // stdin is read once: every secret comes from it, none from the command line
  if (flag !== undefined || opts.cancelPassword !== undefined) {
    throw new CliError('--secrets-stdin reads every secret from stdin: give no --secret, --secret-key or --cancel-password with it');
  }
  const given = parseStdinSecrets(await readStdin());
  if (given.secret === undefined || given.secret === '') throw new CliError('--secrets-stdin: no `secret=…` line on stdin (`secret-key=…` for NICE)');
  return { merchantKey: given.secret, cancelPassword: given.cancelPassword ?? '' };
}

/** The merchant's console user with this e-mail, or a CLI error that says where to look. */
async function requireConsoleUser(deps: Deps, m: { id: string; merchant_code: string }, email: string) {
  try {
    return await findConsoleUser(deps, m.id, email);
  } catch (err) {
    if (err instanceof PierError && err.kind === 'not_found') throw new CliError(`merchant ${m.merchant_code} has no console user ${email.trim().toLowerCase()} (see \`pier user list ${m.merchant_code}\`)`);
    throw err;
  }
}

/** The channel named by its id, its `provider.MID` selector or its MID alone. */
function pickChannel(channels: PgChannelsTable[], ref: string, merchantCode: string): PgChannelsTable {
  const byId = channels.find((c) => c.id === ref);
  if (byId) return byId;
  const matches = channels.filter((c) => c.mid === ref || pgSelector(c) === ref);
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new CliError(`merchant ${merchantCode} has no channel "${ref}" (see \`pier channel list ${merchantCode}\`)`);
  }
  throw new CliError(
    `"${ref}" names ${matches.length} channels of merchant ${merchantCode} (${matches.map((c) => `${c.id} ${c.kind}`).join(', ')}); give the channel id`,
  );
}

export function buildProgram(): Command {
  const program = new Command('pier');
  program
    .description(
      'Pier admin CLI: merchants, REST API keys, PG channels, migrations and reconciliation. ' +
        "It reads the server's configuration (environment variables, or the JSON file named by PIER_CONFIG) " +
        'and opens the database directly: the server need not run.',
    )
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });

  program
    .command('migrate')
    .description('bring the database schema up to date and print the migrations applied')
    .action(async () => {
      await withContext(async (ctx) => {
        if (ctx.applied.length === 0) out(`database ${ctx.deps.store.label} is up to date; no migrations applied`);
        else {
          out(`applied ${ctx.applied.length} migration(s) to ${ctx.deps.store.label}:`);
          for (const m of ctx.applied) out(`  ${m}`);
        }
        if (ctx.newer.length > 0) out(`it also has ${ctx.newer.length} migration(s) of a newer Pier, which this version runs without: ${ctx.newer.join(', ')}`);
      });
    });

  // ---- merchants --------------------------------------------------------------------------
  const merchant = program.command('merchant').description('create, list, show merchants; rotate their REST API key');

  merchant
    .command('create')
    .description('create a merchant with a new REST API key and secret (the secret is shown only once)')
    .requiredOption('--name <name>', 'merchant (shop) name, up to 100 characters')
    .option('--code <code>', 'merchant code for IMP.init: "imp" + 8 digits (default: random)')
    .action(async (opts: { name: string; code?: string }) => {
      const name = opts.name.trim();
      if (!name || name.length > 100) throw new CliError('--name must be 1 to 100 characters');
      await withContext(async ({ deps }) => {
        const m = await createMerchant(deps, { name, merchantCode: opts.code });
        out(`created merchant ${m.merchantCode} (${m.name})`);
        out(`  merchant code  ${m.merchantCode}    IMP.init('${m.merchantCode}')`);
        out(`  imp_key        ${m.impKey}`);
        out(`  imp_secret     ${m.impSecret}`);
        out('');
        out('The imp_secret is shown only this once (Pier stores only its hash): save it now.');
        out(`Lost it? \`pier merchant rotate-key ${m.merchantCode}\` issues a new pair.`);
        out(`Next: add a PG channel with \`pier channel add ${m.merchantCode} --mid <MID> …\`.`);
      });
    });

  merchant
    .command('list')
    .description('list merchants with their active REST API keys')
    .action(async () => {
      await withContext(async ({ deps }) => {
        const merchants = await listMerchants(deps);
        if (merchants.length === 0) {
          out('(no merchants: create one with `pier merchant create --name <name>`)');
          return;
        }
        const channels = await deps.store.db.selectFrom('pg_channels').select('merchant_id').execute();
        out(
          textTable(
            ['CODE', 'NAME', 'IMP_KEY', 'CHANNELS', 'CREATED'],
            merchants.map((m) => [
              m.merchant_code,
              m.name,
              m.imp_keys.map((k) => (k === DEMO_IMP_KEY ? `${k} (public demo key)` : k)).join(', ') || '(none)',
              String(channels.filter((c) => c.merchant_id === m.id).length),
              formatTime(m.created_at),
            ]),
          ),
        );
      });
    });

  merchant
    .command('show')
    .description('show a merchant: code, name, REST API keys and PG channels')
    .argument('<code>', 'merchant code, e.g. imp12345678')
    .action(async (code: string) => {
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, code);
        const keys = await deps.store.db
          .selectFrom('api_keys')
          .select(['imp_key', 'created_at', 'revoked_at'])
          .where('merchant_id', '=', m.id)
          .orderBy('created_at')
          .execute();
        const channels = await listChannels(deps, m.id);
        out(`merchant  ${m.merchant_code}`);
        out(`name      ${m.name}`);
        out(`id        ${m.id}`);
        out(`created   ${formatTime(m.created_at)}`);
        out('');
        out('REST API keys (secrets are stored hashed and never shown again):');
        const active = keys.filter((k) => k.revoked_at === null);
        if (active.length === 0) out('  (no active key: issue one with `pier merchant rotate-key`)');
        for (const k of active) {
          out(`  ${k.imp_key}   active since ${formatTime(k.created_at)}${k.imp_key === DEMO_IMP_KEY ? "   i'mport's public demo key: rotate it before production" : ''}`);
        }
        const revoked = keys.length - active.length;
        if (revoked > 0) out(`  (${revoked} revoked key(s) not shown)`);
        out('');
        out('PG channels:');
        out(channelRows(channels).replace(/^/gm, '  '));
      });
    });

  merchant
    .command('rotate-key')
    .description('issue a new REST API key and secret; the old key and its access tokens stop working at once')
    .argument('<code>', 'merchant code, e.g. imp12345678')
    .action(async (code: string) => {
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, code);
        const old = await deps.store.db.selectFrom('api_keys').select('imp_key').where('merchant_id', '=', m.id).where('revoked_at', 'is', null).execute();
        const k = await rotateApiKey(deps, m.id);
        out(`rotated the REST API key of ${m.merchant_code} (${m.name})`);
        out(`  imp_key        ${k.impKey}`);
        out(`  imp_secret     ${k.impSecret}`);
        out('');
        out('The imp_secret is shown only this once: save it now.');
        if (old.length > 0) out(`Revoked: ${old.map((o) => o.imp_key).join(', ')} (and every access token issued with it) no longer work.`);
      });
    });

  // ---- channels ---------------------------------------------------------------------------
  const channel = program.command('channel').description("add, list, remove a merchant's PG channels (PG contracts / MIDs)");

  channel
    .command('add')
    .summary('add a PG channel (a MID or NICE clientId, and its keys) to a merchant')
    .description(
      'Add a PG channel to a merchant. V1 requests pick it with pg: "{provider}.{MID or clientId}" (e.g. jtnet.tpaytest1m, ' +
        'nice_v2.S2_…) or pg: "{provider}" (that PG\'s default channel); when pg is absent, the default channel of the kind is used ' +
        '(the first channel of a kind becomes its default). Secrets are stored encrypted and never printed. Pipe them in with ' +
        '--secrets-stdin (`secret=…` or `secret-key=…`, and `cancel-password=…`, one a line): a value on the command line is seen by ' +
        'every user of the machine in `ps` and kept in shell history.',
    )
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .option('--provider <provider>', `PG provider code: ${CONNECTOR_MODULES.map((m) => `${m.provider} (${m.label})`).join(', ')}; default: the only PG this Pier configures`)
    .option('--mid <MID>', "the PG's merchant id: tPay's MID (e.g. tpaytest1m)")
    .option('--client-id <clientId>', "NICE's clientId (S1_/S2_… sandbox, R1_/R2_… live); same as --mid")
    .option('--secrets-stdin', 'read the secrets from stdin, one name=value a line: secret= (tPay\'s merchant key) or secret-key= (NICE\'s secretKey), and cancel-password= (tPay)')
    .option('--secret <merchantKey>', "tPay's merchant key for this MID (\"-\" = read it alone from stdin); other users of this machine see it in `ps`: prefer --secrets-stdin")
    .option('--secret-key <secretKey>', "NICE's secretKey (\"-\" = read it alone from stdin); same as --secret")
    .option('--cancel-password <pw>', "tPay's cancel (refund) password (NICE has none); other users of this machine see it in `ps`: prefer --secrets-stdin")
    .addOption(
      new Option('--kind <kind>', 'window = payment window (IMP.request_pay); api = key-in and billing-key REST calls')
        .choices(['window', 'api'])
        .makeOptionMandatory(),
    )
    .option('--sandbox', 'a PG test account (tPay test MID, NICE sandbox key): its payments are marked sandbox')
    .option('--live', 'a live account (the default for tPay MIDs; NICE keys say it themselves: R…)')
    .option('--base-url <url>', "this channel's own PG API address (NICE: a simulator or a NICE-compatible endpoint); default the configured host")
    .option('--default', 'make it the default channel of its kind')
    .option('--name <name>', 'display name (default: provider.MID)')
    .action(
      async (
        merchantCode: string,
        opts: {
          provider?: string;
          mid?: string;
          clientId?: string;
          secretsStdin?: boolean;
          secret?: string;
          secretKey?: string;
          cancelPassword?: string;
          kind: ChannelKind;
          sandbox?: boolean;
          live?: boolean;
          baseUrl?: string;
          default?: boolean;
          name?: string;
        },
      ) => {
        if (opts.sandbox && opts.live) throw new CliError('give --sandbox or --live, not both');
        if (opts.mid && opts.clientId && opts.mid !== opts.clientId) throw new CliError('--mid and --client-id name the same thing: give one');
        const mid = opts.clientId ?? opts.mid;
        if (!mid) throw new CliError("required option '--mid <MID>' not specified (--client-id for NICE)");
        const { merchantKey, cancelPassword } = await channelSecrets(opts);
        await withContext(async ({ deps, config }) => {
          const m = await requireMerchant(deps, merchantCode);
          const provider = opts.provider ?? soleProvider(deps);
          const rules = channelRulesFor(deps, provider);
          const row = await addChannel(deps, m.id, {
            provider,
            mid,
            merchantKey,
            cancelPassword,
            kind: opts.kind,
            // a key that says its mode (NICE's S…/R…) decides when no flag does
            sandbox: opts.sandbox ? true : opts.live ? false : (rules.impliedSandbox?.(mid) ?? false),
            isDefault: opts.default === true,
            name: opts.name,
            baseUrl: opts.baseUrl ?? null,
          });
          out(
            `added channel ${row.id} to ${m.merchant_code}: pg "${pgSelector(row)}", ${row.kind}, ${row.sandbox ? 'sandbox' : 'live'}` +
              `${row.base_url ? `, base URL ${row.base_url}` : ''}${row.is_default ? `, default ${row.kind} channel` : ''}`,
          );
          const notify = notifyUrlLines(deps, config.publicUrl, [row]);
          if (notify.length > 0) {
            out(`Register this notice (webhook) URL in ${deps.connectors.label(row.provider)}'s admin: it receives the PG's server notices (virtual-account deposits among them):`);
            for (const l of notify) out(l);
          }
          if (row.sandbox) await sandboxNotifyUrlLines(deps, config.publicUrl, row);
        });
      },
    );

  channel
    .command('default')
    .description('make a channel the default of its kind: V1 requests without pg go to it (billing keys keep their own channel)')
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .argument('<channel>', 'channel id (ch_…), provider.MID or MID')
    .action(async (merchantCode: string, ref: string) => {
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, merchantCode);
        const c = pickChannel(await listChannels(deps, m.id), ref, m.merchant_code);
        await updateChannel(deps, m.id, c.id, { isDefault: true });
        out(`channel ${c.id} (${pgSelector(c)}) is now the default ${c.kind} channel of ${m.merchant_code}`);
      });
    });

  channel
    .command('list')
    .description("list a merchant's PG channels (secrets are never printed) and the webhook URLs to register at PGs that need one")
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .action(async (merchantCode: string) => {
      await withContext(async ({ deps, config }) => {
        const m = await requireMerchant(deps, merchantCode);
        const channels = await listChannels(deps, m.id);
        out(channelRows(channels));
        const notify = notifyUrlLines(deps, config.publicUrl, channels);
        if (notify.length > 0) {
          out('');
          out("Webhook URLs to register in the PG's admin (NICE's webhook, tPay's deposit notice URL):");
          for (const l of notify) out(l);
        }
      });
    });

  channel
    .command('remove')
    .description('remove a PG channel, named by its id, its pg selector (jtnet.MID, nice_v2.clientId) or its MID')
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .argument('<channel>', 'channel id (ch_…), jtnet.MID or MID')
    .option('--force', 'remove it even though billing keys, refundable payments or virtual accounts awaiting a deposit still use it')
    .action(async (merchantCode: string, ref: string, opts: { force?: boolean }) => {
      await withContext(async ({ deps, config }) => {
        const m = await requireMerchant(deps, merchantCode);
        const c = pickChannel(await listChannels(deps, m.id), ref, m.merchant_code);
        const usage = await channelUsage(deps, m.id, c.id);
        if ((usage.billingKeys > 0 || usage.openPayments > 0) && !opts.force) {
          throw new CliError(
            `channel ${c.id} (${pgSelector(c)}, ${c.kind}) is still used by ${usage.billingKeys} billing key(s) and ${usage.openPayments} paid, in-doubt or awaiting-deposit payment(s); ` +
              'without it they cannot be charged, refunded or reconciled, and deposits into its virtual accounts are not recorded. Add --force to remove it anyway.',
          );
        }
        const removal = await removeChannel(deps, m.id, c.id);
        if (!removal) throw new CliError(`channel ${c.id} was already removed`);
        out(`removed channel ${c.id} (${pgSelector(c)}, ${c.kind}) from ${m.merchant_code}`);
        if (removal.newDefault) out(`${pgSelector(removal.newDefault)} is now the default ${c.kind} channel`);
        // its remaining channels are of PGs this Pier leaves out, and none becomes the default (decision 0087)
        if (removal.leftWithoutDefault) {
          out(
            `no ${c.kind} channel is the default now: the remaining ones are of PGs not configured in this Pier; payments without pg take the first of them, ` +
              'answered "not configured" until its PG is set up. Add a channel, or make one the default once its PG is configured (pier channel default)',
          );
        }
        if (c.sandbox) await sandboxNotifyUrlLines(deps, config.publicUrl, c);
      });
    });

  // ---- billing keys -----------------------------------------------------------------------
  const billingKey = program.command('billing-key').description("a merchant's stored billing keys");

  billingKey
    .command('forget')
    .description(
      "delete Pier's record of billing keys without asking the PG: for keys whose PG contract has ended or whose channel was removed, " +
        'which DELETE /subscribe/customers/{customer_uid} cannot delete at the PG (the key stays registered there if the PG still knows it)',
    )
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .argument('<customerUid...>', 'the customer_uid of each key')
    .action(async (merchantCode: string, customerUids: string[]) => {
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, merchantCode);
        const missing: string[] = [];
        for (const uid of customerUids) {
          const forgotten = await forgetBillingKey(deps, m.id, uid);
          if (forgotten) out(`forgot ${forgotten.customer_uid} (${forgotten.pg}${forgotten.card_name ? `, ${forgotten.card_name}` : ''}) in Pier; not deleted at the PG`);
          else missing.push(uid);
        }
        if (missing.length > 0) throw new CliError(`${m.merchant_code} has no billing key for customer_uid ${missing.join(', ')}`);
      });
    });

  // ---- console users ----------------------------------------------------------------------
  const user = program.command('user').description("create, list, reset, unlock and remove a merchant's console users (sign-in at /console)");

  user
    .command('create')
    .description('create a console user of a merchant; without --password-stdin (or --password) a random one is generated and printed once')
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .requiredOption('--email <email>', 'the e-mail the user signs in with (unique across Pier)')
    .option('--password-stdin', `read the password (at least ${MIN_PASSWORD_LENGTH} characters) from stdin`)
    .option('--password <password>', `at least ${MIN_PASSWORD_LENGTH} characters; other users of this machine see it in \`ps\`: prefer --password-stdin`)
    .action(async (merchantCode: string, opts: { email: string; password?: string; passwordStdin?: boolean }) => {
      if (opts.password !== undefined && opts.passwordStdin) throw new CliError('give --password or --password-stdin, not both');
      const given = opts.passwordStdin ? await readStdin() : opts.password;
      const password = given ?? generatePassword();
      const problems = consoleUserProblems(opts.email, password);
      if (problems.email) throw new CliError(`--email: "${opts.email}" is not a valid e-mail address`);
      if (problems.password) throw new CliError(`${opts.passwordStdin ? 'the password on stdin' : '--password'}: ${MIN_PASSWORD_LENGTH} to 200 characters`);
      await withContext(async ({ deps, config }) => {
        const m = await requireMerchant(deps, merchantCode);
        const u = await createConsoleUser(deps, m.id, opts.email, password);
        out(`created console user ${u.email} for ${m.merchant_code} (${m.name})`);
        if (given === undefined) {
          out(`  password   ${password}`);
          out('');
          out('The password is shown only this once (Pier stores only its hash): save it now.');
        }
        out(`Sign in at ${config.publicUrl}/console`);
      });
    });

  user
    .command('list')
    .description("list a merchant's console users")
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .action(async (merchantCode: string) => {
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, merchantCode);
        const users = await listConsoleUsers(deps, m.id);
        if (users.length === 0) {
          out(`(no console users: create one with \`pier user create ${m.merchant_code} --email <email>\`)`);
          return;
        }
        const now = Math.floor(Date.now() / 1000);
        out(textTable(['EMAIL', 'CREATED', 'LAST SIGN-IN', 'LOCKED'], users.map((u) => [u.email, formatTime(u.created_at), u.last_login_at ? formatTime(u.last_login_at) : '-', u.locked_until > now ? `until ${formatTime(u.locked_until)}` : 'no'])));
      });
    });

  // decision 0108: a leaked password is replaced, a lock lifted, a user removed; each ends every
  // session of the user at once (sessions live in the database, so on every Pier process)
  const sessionsEndedLine = (n: number) => `${n} open session(s) of the user ended: every browser signs in again`;

  user
    .command('set-password')
    .summary("replace a console user's password; ends their sessions")
    .description(
      "Replace a console user's password (a leaked one, or one the user forgot). Without --password-stdin a random one is generated and " +
        'printed once. It also lifts a lock and ends every session of the user, on every browser. The password is never taken from ' +
        "the command line, where other users of the machine see it in `ps`.",
    )
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .argument('<email>', "the user's e-mail")
    .option('--password-stdin', `read the new password (at least ${MIN_PASSWORD_LENGTH} characters) from stdin`)
    .action(async (merchantCode: string, email: string, opts: { passwordStdin?: boolean }) => {
      const given = opts.passwordStdin ? await readStdin() : undefined;
      const password = given ?? generatePassword();
      if (passwordProblem(password)) throw new CliError(`the password on stdin: ${MIN_PASSWORD_LENGTH} to 200 characters`);
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, merchantCode);
        const u = await requireConsoleUser(deps, m, email);
        const { sessionsEnded } = await setConsoleUserPassword(deps, u.id, password);
        out(`set a new password for console user ${u.email} of ${m.merchant_code}; the old one no longer signs in`);
        if (given === undefined) {
          out(`  password   ${password}`);
          out('');
          out('The password is shown only this once (Pier stores only its hash): hand it to the user over a channel other than the e-mail it opens.');
        }
        if (u.locked_until > consoleNow(deps)) out('the lock on the user is lifted');
        out(sessionsEndedLine(sessionsEnded));
      });
    });

  user
    .command('unlock')
    .description(`lift the lock that ${LOCKOUT_THRESHOLD} failed sign-ins put on a console user (and reset the count); ends their sessions`)
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .argument('<email>', "the user's e-mail")
    .action(async (merchantCode: string, email: string) => {
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, merchantCode);
        const u = await requireConsoleUser(deps, m, email);
        const { wasLocked, sessionsEnded } = await unlockConsoleUser(deps, u.id);
        out(wasLocked ? `unlocked console user ${u.email} of ${m.merchant_code}: the right password signs in again` : `console user ${u.email} of ${m.merchant_code} was not locked; its count of failed sign-ins is reset`);
        out(sessionsEndedLine(sessionsEnded));
        out(`Someone guessing? Replace the password as well: \`pier user set-password ${m.merchant_code} ${u.email}\``);
      });
    });

  user
    .command('remove')
    .description('remove a console user; their sessions end at once')
    .argument('<merchantCode>', 'merchant code, e.g. imp12345678')
    .argument('<email>', "the user's e-mail")
    .action(async (merchantCode: string, email: string) => {
      await withContext(async ({ deps }) => {
        const m = await requireMerchant(deps, merchantCode);
        const u = await requireConsoleUser(deps, m, email);
        const { sessionsEnded } = await removeConsoleUser(deps, u.id);
        out(`removed console user ${u.email} of ${m.merchant_code}`);
        out(sessionsEndedLine(sessionsEnded));
      });
    });

  // ---- operations -------------------------------------------------------------------------
  program
    .command('reconcile')
    .summary('settle payments left in doubt by asking the PG, once')
    .description(
      'Settle payments left in doubt (PG timeouts, a process that died mid-call) by asking the PG, once. ' +
        "The server does this every 30 s; this runs it now. Needs each PG's address (its connector's settings), or the embedded " +
        'simulators of a running sandbox server; rows of a PG this configuration leaves out wait for it. Attempts the PG has no record of are marked failed; refunds still ' +
        'pending past the grace (their process died mid-call) are settled by the PG\'s ledger too.',
    )
    .option('--grace-seconds <N>', 'only attempts untouched for at least N seconds (default: the slowest PG\'s connect + read timeout + 30)', nonNegativeInt)
    .option('--limit <N>', 'rows taken per batch (the pass goes on until nothing is due)', positiveInt, 100)
    .action(async (opts: { graceSeconds?: number; limit: number }) => {
      await withContext(
        async ({ deps, config }) => {
          const graceSeconds = opts.graceSeconds ?? reconcileGraceSeconds(deps.connectors);
          // SIGTERM / SIGINT: no further row is started and the rows under way finish their
          // record-call-record, as the server's pass at its stop (decisions 0113, 0126); killed
          // mid-call, a row's check was spent and the PG's answer (a net-cancel it made) unrecorded
          const stop = stopOnSignal();
          try {
            // asked by an operator: every open row past its grace is checked now, whatever its backoff
            const pass = { graceSeconds, limit: opts.limit, ignoreBackoff: true, signal: stop.signal };
            const outcome = await reconcileInDoubt(deps, pass);
            const refunds = stop.signal.aborted ? [] : Object.entries(await reconcileInDoubtCancels(deps, pass));
            if (refunds.length > 0) out(textTable(['CANCELLATION_ID', 'REFUND'], refunds) + '\n');
            const entries = Object.entries(outcome);
            if (entries.length === 0) {
              if (!stop.signal.aborted) out(`no payments in doubt for ${graceSeconds}s or more`);
            } else {
              out(textTable(['IMP_UID', 'OUTCOME'], entries));
              const unknown = entries.filter(([, o]) => o === 'unknown' || o === 'amount_mismatch').length;
              out('');
              out(`${entries.length} attempt(s): ${entries.length - unknown} settled, ${unknown} still unknown${unknown > 0 ? ' (the PG could not be asked; run again later)' : ''}`);
            }
            if (stop.received) {
              process.stderr.write(`pier: stopped by ${stop.received}: the rows under way were recorded; the rest were not started (run again)\n`);
              throw new CliExit(128 + (osConstants.signals[stop.received] ?? 15));
            }
          } finally {
            stop.remove();
          }
        },
        { needPg: true },
      );
    });

  const vault = program.command('vault').description('the keys that encrypt stored secrets (PG merchant keys, billing keys, webhook secrets)');
  vault
    .command('check')
    .description("check that PIER_VAULT_KEYS opens this database's sealed values (Pier does this at every start)")
    .action(async () => {
      await withContext(async ({ deps }) => {
        const check = await checkVaultOpensData(deps.store, deps.vault);
        if (!check.ok) throw new CliError(check.message);
        out(`ok: the key ring (${deps.vault.keyIds.join(', ')}) opens this database's sealed values (${check.checked} checked)`);
      });
    });
  vault
    .command('rewrap')
    .summary('re-encrypt every stored secret with the active (first) key')
    .description(
      'Re-encrypt every sealed value that is not under the active key (the first of PIER_VAULT_KEYS), so older keys can be removed ' +
        'from the ring afterwards. Safe to stop and run again (it continues where it stopped) and to run while Pier is serving.',
    )
    .option('--batch-size <N>', 'rows per batch', positiveInt, 200)
    .action(async (opts: { batchSize: number }) => {
      await withContext(async ({ deps }) => {
        const check = await checkVaultOpensData(deps.store, deps.vault);
        if (!check.ok) throw new CliError(check.message);
        const total = await rewrapVault(deps.store, deps.vault, {
          batchSize: opts.batchSize,
          onProgress: (p) => out(`${p.table}.${p.column}: ${p.rewrapped} re-encrypted, ${p.remaining} to go`),
        });
        out(`done: ${total} value(s) re-encrypted with key "${deps.vault.activeKeyId}"; every sealed value now uses it`);
      });
    });

  program
    .command('compat-table')
    .description("print the README's V1 API compatibility table (markdown), generated from src/api/v1-endpoints.ts")
    .option('--write [file]', 'replace the table between the compat-table markers in a markdown file instead (default: README.md)')
    .action((opts: { write?: string | boolean }) => {
      if (opts.write === undefined || opts.write === false) {
        out(compatTableMarkdown());
        return;
      }
      const file = resolve(typeof opts.write === 'string' ? opts.write : 'README.md');
      try {
        out(writeCompatTable(file) ? `updated the compatibility table in ${file}` : `${file} is already up to date`);
      } catch (err) {
        throw new CliError(`${file}: ${(err as Error).message}`);
      }
    });

  // webhooks, pier listen, sandbox clock (src/jobs/cli.ts)
  registerJobCommands(program, withContext);

  return program;
}

/**
 * `pier reconcile`'s stop: the first SIGTERM or SIGINT aborts `signal` (the pass starts no further
 * row; the rows under way finish, decision 0126); a second one exits at once, as Node's default would.
 */
function stopOnSignal() {
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) process.exit(128 + (osConstants.signals[signal] ?? 15));
    received = signal;
    process.stderr.write(`pier: ${signal}: finishing the rows under way (asked of the PG already), starting no more; ${signal} again exits now\n`);
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    remove() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/** A command's own exit code (after it printed its own words). */
class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

function ignoreClosedPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
}

/** Runs the CLI; returns the exit code. Errors become one line on stderr, never a stack trace. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  // `pier … | head`: a reader that stops early closes the pipe; the command still finishes what it
  // does, and its remaining lines go nowhere. Installed once: the error comes after the write returns.
  if (!process.stdout.listeners('error').includes(ignoreClosedPipe)) process.stdout.on('error', ignoreClosedPipe);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed it
    if (err instanceof CliExit) return err.exitCode;
    if (err instanceof PierError || err instanceof CliError) {
      process.stderr.write(`pier: ${err.message}\n`);
      return 1;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`pier: configuration error: ${err.message}\n`);
      return 78;
    }
    const e = err as Error;
    process.stderr.write(`pier: ${e?.message ?? String(err)}\n`);
    if (process.env.PIER_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return 1;
  }
}

function isEntry(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  process.exitCode = await main(process.argv);
}
