/** Request bodies every load generator sends, so the closed and open loops load the same work. */

/** `POST /subscribe/payments/again` (Pier or the yardstick): 1,000 KRW on a billing key. */
export function againBody(customerUid: string, merchantUid: string): string {
  return JSON.stringify({ customer_uid: customerUid, merchant_uid: merchantUid, amount: 1000, name: 'bench again' });
}

/** The simulator's `payments_token` form (the call every Pier `again` makes), for the simulator alone. */
export function simulatorChargeForm(s: { mid: string; apiKey: string; cardToken: string }, moid: string): string {
  return new URLSearchParams({ mid: s.mid, api_key: s.apiKey, card_token: s.cardToken, goods_nm: 'bench', amt: '1000', moid }).toString();
}
