import type { Kysely } from 'kysely';

/**
 * `sandbox_settings.auto_cancel_until` (the database's clock, UNIX seconds; 0 = none): while a
 * process cancels the day's sandbox payments (jobs/handlers/sandbox-auto-cancel.ts), when its hold
 * on the day runs out, so a process that died part-way leaves the rest of the day to the next one.
 * `auto_cancel_last_day` is now written when the day's run has ended with nothing left to cancel,
 * not when it starts (decision 0107).
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema
    .alterTable('sandbox_settings')
    .addColumn('auto_cancel_until', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}
