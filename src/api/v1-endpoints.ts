/**
 * Every method and path of PortOne's published V1 REST API (66 paths), with Pier's support for each.
 * The README's compatibility table is generated from this list (`npm run compat-table`) and a test keeps
 * them equal. Paths not implemented answer the V1 envelope with HTTP 501 instead of a bare 404.
 */
export type Support = 'supported' | 'partial' | 'not yet';

/**
 * What an endpoint needs from the PG behind the channel, when PGs differ in it: the README's PG
 * column is computed from each connector's capabilities for it (src/cli/compat-table.ts).
 */
export type PgFeature = 'keyIn' | 'billingKey' | 'partialCancel' | 'vbankApi' | 'vbankRevoke';

export interface V1Endpoint {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  support: Support;
  note?: string;
  pg?: PgFeature;
}

export const V1_ENDPOINTS: V1Endpoint[] = [
  { method: 'POST', path: '/users/getToken', support: 'supported' },
  { method: 'POST', path: '/benepia/point', support: 'not yet' },
  { method: 'POST', path: '/benepia/payment', support: 'not yet' },
  { method: 'GET', path: '/certifications/{imp_uid}', support: 'partial', note: 'Pier has no identity-verification provider, so no certification exists: 404 `인증결과가 존재하지 않습니다.`' },
  { method: 'DELETE', path: '/certifications/{imp_uid}', support: 'partial', note: 'as GET: 404 `인증결과가 존재하지 않습니다.`' },
  { method: 'POST', path: '/certifications/otp/request', support: 'not yet' },
  { method: 'POST', path: '/certifications/otp/confirm/{imp_uid}', support: 'not yet' },
  { method: 'GET', path: '/subscribe/customers', support: 'supported' },
  { method: 'GET', path: '/subscribe/customers/{customer_uid}', support: 'supported' },
  { method: 'POST', path: '/subscribe/customers/{customer_uid}', support: 'partial', note: 'card key-in only; `channel_key`, `channel_group_id` (smart routing) not supported', pg: 'billingKey' },
  { method: 'DELETE', path: '/subscribe/customers/{customer_uid}', support: 'supported' },
  { method: 'GET', path: '/subscribe/customers/{customer_uid}/payments', support: 'supported' },
  { method: 'GET', path: '/subscribe/customers/{customer_uid}/schedules', support: 'supported', note: 'same as `/subscribe/payments/schedule/customers/{customer_uid}`' },
  { method: 'POST', path: '/cvs', support: 'not yet' },
  { method: 'DELETE', path: '/cvs/{imp_uid}', support: 'not yet' },
  { method: 'GET', path: '/escrows/logis/{imp_uid}', support: 'not yet' },
  { method: 'POST', path: '/escrows/logis/{imp_uid}', support: 'not yet' },
  { method: 'PUT', path: '/escrows/logis/{imp_uid}', support: 'not yet' },
  { method: 'DELETE', path: '/kcpquick/members/{member_id}', support: 'not yet' },
  { method: 'POST', path: '/kcpquick/payment/money', support: 'not yet' },
  { method: 'POST', path: '/kcpquick/prepare/{merchant_uid}', support: 'not yet' },
  { method: 'PUT', path: '/kcpquick/prepare/{merchant_uid}', support: 'not yet' },
  { method: 'POST', path: '/kcpquick/payment/autopay', support: 'not yet' },
  { method: 'DELETE', path: '/kcpquick/autopay/{customer_uid}', support: 'not yet' },
  { method: 'POST', path: '/kcpquick/members/{member_id}/fido/release', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/cancel', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/approve-cancel', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/ship', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/ship-exchanged', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/collect-exchanged', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/place', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/request-return', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/approve-return', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/reject-return', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/withhold-return', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/resolve-return', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/point', support: 'not yet' },
  { method: 'POST', path: '/payments/{imp_uid}/naver/confirm', support: 'not yet' },
  { method: 'GET', path: '/payments/{imp_uid}/naver/product-orders', support: 'not yet' },
  { method: 'GET', path: '/naver/product-orders/{product_order_id}', support: 'not yet' },
  { method: 'GET', path: '/naver/reviews', support: 'not yet' },
  { method: 'GET', path: '/payments/{imp_uid}/naver/cash-amount', support: 'not yet' },
  { method: 'POST', path: '/partners/receipts/{imp_uid}', support: 'not yet' },
  { method: 'POST', path: '/payco/orders/status/{imp_uid}', support: 'not yet' },
  { method: 'GET', path: '/payments/{imp_uid}/balance', support: 'partial', note: 'computed for every PG (V1: PAYCO only); the tax-free part split out of the payment and of each refund; VAT the payment\'s `vat_amount` (1/11 of the taxable part when none was given), less the `vat_amount` each refund stated, or for a refund that stated none a share in proportion to the taxable part it took (decisions 0063, 0066)' },
  { method: 'GET', path: '/payments/{imp_uid}', support: 'supported', note: '`include_sandbox` accepted, sandbox payments always shown' },
  { method: 'GET', path: '/payments', support: 'supported' },
  { method: 'GET', path: '/payments/find/{merchant_uid}/{payment_status}', support: 'supported' },
  { method: 'GET', path: '/payments/findAll/{merchant_uid}/{payment_status}', support: 'supported' },
  { method: 'GET', path: '/payments/status/{payment_status}', support: 'supported' },
  { method: 'POST', path: '/payments/cancel', support: 'partial', note: 'card, transfer, phone and virtual-account refunds (a paid vbank needs `refund_holder`, `refund_bank`, `refund_account`); `enable_webhook: true` sends the `cancelled` webhook; `tax_free` and `amount − tax_free` within the tax-free and taxable parts not yet refunded (decision 0055); `vat_amount` at most the taxable part the refund takes (with an omitted `tax_free` the part Pier applies; decision 0063) and within the VAT and supply not yet refunded, recorded for the balance (decision 0066), sent to no PG (none takes it); the tax-free part sent to NICE as `taxFreeAmt` (decision 0081); `retain_promotion`, `extra` accepted but not acted on', pg: 'partialCancel' },
  { method: 'POST', path: '/payments/prepare', support: 'supported' },
  { method: 'PUT', path: '/payments/prepare', support: 'supported' },
  { method: 'GET', path: '/payments/prepare/{merchant_uid}', support: 'supported' },
  { method: 'POST', path: '/paymentwall/delivery', support: 'not yet' },
  { method: 'GET', path: '/receipts/{imp_uid}', support: 'not yet' },
  { method: 'POST', path: '/receipts/{imp_uid}', support: 'not yet' },
  { method: 'DELETE', path: '/receipts/{imp_uid}', support: 'not yet' },
  { method: 'GET', path: '/receipts/external/{merchant_uid}', support: 'not yet' },
  { method: 'POST', path: '/receipts/external/{merchant_uid}', support: 'not yet' },
  { method: 'DELETE', path: '/receipts/external/{merchant_uid}', support: 'not yet' },
  { method: 'GET', path: '/cards', support: 'supported' },
  { method: 'GET', path: '/cards/{card_standard_code}', support: 'supported' },
  { method: 'GET', path: '/banks', support: 'supported' },
  { method: 'GET', path: '/banks/{bank_standard_code}', support: 'supported' },
  { method: 'POST', path: '/subscribe/payments/onetime', support: 'partial', note: 'card key-in; `channelGroupId`, `currency` other than KRW, 3-D Secure fields not supported', pg: 'keyIn' },
  { method: 'POST', path: '/subscribe/payments/again', support: 'partial', note: '`currency` other than KRW, `channel_key`, `extra` not supported', pg: 'billingKey' },
  { method: 'GET', path: '/subscribe/payments/schedule', support: 'supported', note: 'paged `{total, previous, next, list}` (as V1 clients read it); period at most 3 months' },
  { method: 'POST', path: '/subscribe/payments/schedule', support: 'partial', note: 'card fields issue the billing key in the same call; `checking_amount` accepted without a test charge; `channel_key` not supported; `product_type`, `bypass`, `extra` and the like kept, not sent to the PG', pg: 'billingKey' },
  { method: 'POST', path: '/subscribe/payments/unschedule', support: 'supported', note: 'an empty `merchant_uid` entry beside ids is ignored; a `merchant_uid` list with no id (`[]`, `[""]`) is refused rather than read as omitted (which revokes every schedule; decision 0081)' },
  { method: 'GET', path: '/subscribe/payments/schedule/{merchant_uid}', support: 'supported' },
  { method: 'PUT', path: '/subscribe/payments/schedule/{merchant_uid}', support: 'supported' },
  { method: 'POST', path: '/subscribe/payments/schedule/{merchant_uid}/reschedule', support: 'supported' },
  { method: 'POST', path: '/subscribe/payments/schedule/{merchant_uid}/retry', support: 'supported' },
  { method: 'GET', path: '/subscribe/payments/schedule/customers/{customer_uid}', support: 'supported', note: '`schedule-status` (hyphen, as V1) or `schedule_status`' },
  { method: 'GET', path: '/tiers/{tier_code}', support: 'not yet' },
  { method: 'GET', path: '/users/pg', support: 'supported' },
  { method: 'POST', path: '/vbanks', support: 'partial', note: 'validates and answers "not supported by this PG" when the PG has no vbank API (JTNET, NICE\'s Start API)', pg: 'vbankApi' },
  { method: 'PUT', path: '/vbanks/{imp_uid}', support: 'partial', note: 'validates and answers "not supported by this PG" (V1: settle only)', pg: 'vbankApi' },
  { method: 'DELETE', path: '/vbanks/{imp_uid}', support: 'supported', note: 'virtual accounts issued in the payment window; the account becomes `cancelled`, no webhook', pg: 'vbankRevoke' },
];

/**
 * Paths V1 served earlier and published clients still call (node-iamporter, the official Python
 * client's `pay_foreign`). Not in the schema, so not in the table; they answer like any path Pier
 * does not implement: 401 without a valid token, then 501.
 */
export const V1_RETIRED_ENDPOINTS: V1Endpoint[] = [{ method: 'POST', path: '/subscribe/payments/foreign', support: 'not yet' }];
