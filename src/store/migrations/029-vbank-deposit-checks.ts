import { sql, type Kysely } from 'kysely';

/**
 * `payments.deposit_check_at` (Pier's clock, UNIX seconds; null = none due): when Pier next asks the
 * PG whether an issued window virtual account was paid into, in case the PG's deposit notice never
 * reached Pier (decision 0086, src/core/virtual-accounts/deposit-checks.ts). Set when an account is
 * recorded issued, cleared once it is paid, closed or past its last check.
 *
 * The index holds only the accounts with a check due (`where deposit_check_at is not null`), not the
 * payments' history; the claim states that predicate as a literal. Accounts already issued and
 * unpaid at the upgrade get a check an hour after their issue (at once, for most): what a notice
 * lost before the upgrade left unrecorded is found then.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.alterTable('payments').addColumn('deposit_check_at', 'bigint').execute();
  await sql`create index payments_deposit_check on payments (deposit_check_at) where deposit_check_at is not null`.execute(db);
  await sql`update payments set deposit_check_at = vbank_issued_at + 3600
    where pay_method = 'vbank' and status = 'ready' and pg_state = 'done' and vbank_num is not null`.execute(db);
}
