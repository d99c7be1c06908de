import type { Kysely } from 'kysely';

/**
 * The VAT a merchant stated for a refund (`vat_amount` of POST /payments/cancel), so that
 * GET /payments/{imp_uid}/balance takes that VAT rather than a share in proportion to the taxable
 * part refunded (docs/decisions/0066-refund-vat-as-stated.md). NULL: none stated (refunds before
 * this migration, console refunds, refunds the PG made); those keep the proportional rule.
 */
export async function up(db: Kysely<any>, _dialect: 'sqlite' | 'postgres'): Promise<void> {
  await db.schema.alterTable('payment_cancels').addColumn('vat_amount', 'bigint').execute();
}
