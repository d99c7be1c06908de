import Type from 'typebox';
import { Amount, AmountOrZero, BuyerFields, CustomData, MerchantUid, OptString } from '../schemas.js';

/** Body fields shared by POST /subscribe/payments/onetime and /again (spec/api-v1.md §5.1-5.2). */
export const ChargeFields = {
  merchant_uid: MerchantUid,
  amount: Amount,
  tax_free: Type.Optional(Type.Union([AmountOrZero, Type.Null()])),
  vat_amount: Type.Optional(Type.Union([AmountOrZero, Type.Null()])),
  name: OptString(200),
  currency: Type.Optional(Type.Union([Type.Literal('KRW'), Type.Null()])),
  card_quota: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 60 }), Type.Null()])),
  interest_free_by_merchant: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  use_card_point: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  custom_data: CustomData,
  notice_url: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Array(Type.String({ maxLength: 2000 }), { maxItems: 10 }), Type.Null()])),
  browser_ip: OptString(64),
  product_type: OptString(16),
  ...BuyerFields,
};
