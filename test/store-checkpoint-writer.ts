/**
 * A process that writes to a SQLite file as fast as it can while its store's checkpointer thread
 * copies the WAL into the file (test/store-checkpointer.test.ts kills it with SIGKILL). Each row is
 * one commit with the next id; every 20 commits it prints
 * `{"committed": <highest id committed>, "copyingPasses": <checkpoints that copied frames>}`.
 */
import { openStore, sql } from '../src/store/db.js';

const store = openStore(process.env.DATABASE_URL!, { checkpointIntervalMs: 20 });
await sql`create table if not exists w (id integer primary key, payload text not null)`.execute(store.db);
await sql`create index if not exists w_payload on w (payload)`.execute(store.db);
// a payload of ~1 kB in a second index: each commit dirties several pages, so the WAL grows fast
const payload = (id: number) => `${id}:`.padEnd(1000, String.fromCharCode(97 + (id % 26)));
for (let id = 1; ; id++) {
  await sql`insert into w (id, payload) values (${id}, ${payload(id)})`.execute(store.db);
  if (id % 20 === 0) process.stdout.write(`${JSON.stringify({ committed: id, copyingPasses: store.checkpointer!.stats().copyingPasses })}\n`);
}
