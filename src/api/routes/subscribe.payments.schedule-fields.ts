import Type from 'typebox';
import type { NewSchedule } from '../../core/schedules/schedules.js';
import { PierError } from '../errors.js';
import { buyerFromBody, customDataString, jsonTextOf, noticeUrlOf } from '../request-helpers.js';
import { Amount, AmountOrZero, BuyerFields, CustomData, MerchantUid, OptString } from '../schemas.js';

/** UNIX seconds up to 9999-12-31: larger values overflow PostgreSQL's BIGINT comparisons */
export const UnixTime = Type.Integer({ minimum: 0, maximum: 253_402_300_799, description: 'UNIX seconds' });

export const ScheduleStatusParam = Type.Optional(Type.Union([Type.Literal('scheduled'), Type.Literal('executed'), Type.Literal('revoked'), Type.Null()]));

const NoticeUrl = Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Array(Type.String({ maxLength: 2000 }), { maxItems: 10 }), Type.Null()]));

/** One item of `schedules[]` (spec/api-v1.md §5.3): every V1 field is accepted. */
export const ScheduleItem = Type.Object({
  merchant_uid: MerchantUid,
  schedule_at: UnixTime,
  amount: Amount,
  currency: Type.Optional(Type.Union([Type.Literal('KRW'), Type.Null()])),
  name: OptString(200),
  tax_free: Type.Optional(Type.Union([AmountOrZero, Type.Null()])),
  vat_amount: Type.Optional(Type.Union([AmountOrZero, Type.Null()])),
  ...BuyerFields,
  custom_data: CustomData,
  notice_url: NoticeUrl,
  card_quota: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 60 }), Type.Null()])),
  interest_free_by_merchant: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  use_card_point: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  product_type: OptString(16),
  product_count: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 100_000 }), Type.Null()])),
  cash_receipt_type: Type.Optional(Type.Union([Type.Literal('person'), Type.Literal('company'), Type.Literal('anonymous'), Type.Null()])),
  browser_ip: OptString(64),
  bypass: Type.Optional(Type.Union([Type.String({ maxLength: 10_000 }), Type.Object({}), Type.Null()])),
  promotion_id: OptString(80),
  extra: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
});

type ScheduleItemBody = {
  merchant_uid: string;
  schedule_at: number;
  amount: number;
  name?: string | null;
  tax_free?: number | null;
  vat_amount?: number | null;
  custom_data?: unknown;
  notice_url?: string | string[] | null;
  card_quota?: number | null;
  promotion_id?: string | null;
  buyer_name?: string | null;
  buyer_email?: string | null;
  buyer_tel?: string | null;
  buyer_addr?: string | null;
  buyer_postcode?: string | null;
  [k: string]: unknown;
};

/** Fields Pier accepts and keeps with the schedule but passes on nowhere (tPay has no use for them). */
const KEPT_ONLY = ['interest_free_by_merchant', 'use_card_point', 'product_type', 'product_count', 'cash_receipt_type', 'browser_ip', 'bypass', 'extra'];

/** `index`: the item's place in `schedules`, to name a refused field as validation does (`schedules.0.custom_data`). */
export function newScheduleOf(b: ScheduleItemBody, index = 0): NewSchedule {
  const options: Record<string, unknown> = {};
  for (const k of KEPT_ONLY) if (b[k] !== undefined && b[k] !== null) options[k] = b[k];
  // the core stores them as JSON: one nested too deep to serialise is refused here, not a 500 there
  for (const [k, v] of Object.entries(options)) if (typeof v === 'object') jsonTextOf(v, `schedules.${index}.${k}`);
  const noticeUrl = noticeUrlOf(b.notice_url);
  if ((b.card_quota ?? 0) === 1) throw new PierError('invalid_parameter', `schedules[${b.merchant_uid}].card_quota는 0(일시불) 또는 2 이상이어야 합니다.`);
  return {
    merchantUid: b.merchant_uid,
    scheduleAt: b.schedule_at,
    amount: b.amount,
    taxFree: b.tax_free ?? 0,
    vatAmount: b.vat_amount ?? null,
    name: b.name ?? null,
    buyer: buyerFromBody(b),
    customData: customDataString(b.custom_data, `schedules.${index}.custom_data`),
    noticeUrl,
    cardQuota: b.card_quota ?? 0,
    promotionId: b.promotion_id ?? null,
    options,
  };
}
