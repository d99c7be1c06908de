/**
 * A sandbox Pier's start (prepareInstallation: migrate, check the vault, make the demo merchant)
 * held just after the demo merchant's first channel row was written and before anything after it
 * (test/operations/demo-setup-crash.test.ts): it prints HELD_LINE and waits until it is killed, so
 * the test can kill it with SIGKILL at that moment, as a power loss or kill -9 would.
 *
 * The statement ran (on PostgreSQL its row lock taken, on SQLite in the write transaction): only
 * what was committed before it outlives the kill.
 */
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { InsertQueryNode, TableNode } from 'kysely';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/lib/logger.js';
import { prepareInstallation } from '../../src/main.js';
import { openStore } from '../../src/store/db.js';

// the test waits for this line (demo-setup-crash.test.ts HELD_LINE)
const HELD_LINE = 'held after the demo merchant\'s first channel insert';

class HoldAfterFirstChannelInsert implements KyselyPlugin {
  private readonly channelInserts = new WeakSet<object>();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const node = args.node;
    if (InsertQueryNode.is(node) && TableNode.is(node.into!) && node.into.table.identifier.name === 'pg_channels') this.channelInserts.add(args.queryId);
    return node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.channelInserts.has(args.queryId)) {
      process.stdout.write(`${HELD_LINE}\n`);
      await new Promise(() => {});
    }
    return args.result;
  }
}

const config = loadConfig();
const logger = createLogger(config.logLevel, undefined, { format: config.logFormat, mode: config.mode });
const store = openStore(config.databaseUrl);
await prepareInstallation(config, logger, { ...store, db: store.db.withPlugin(new HoldAfterFirstChannelInsert()) }, []);
process.stdout.write('the start ended without a channel insert\n');
process.exit(1);
