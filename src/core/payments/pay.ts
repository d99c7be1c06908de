import { PierError, STOPPING_MESSAGE } from '../errors.js';
import type { CardInput } from '../../lib/card.js';
import type { Connector } from '../../connectors/types.js';
import { billingKeyChoice, findBillingKeyWithChannel, forgetIssuedKey, issueAtPg, storeBillingKey, type CustomerFields } from '../billing-keys/billing-keys.js';
import { channelChoice, channelOfId, openChannel, resolveChannel, type ResolvedChannel } from '../merchants/channels.js';
import { chargeWith, refuseIfMerchantUidTaken, type ChargeOrder } from './charge.js';
import type { Deps } from '../deps.js';

export const UNKNOWN_BUYER = '등록되지 않은 구매자입니다.';
export const CARD_AUTH_FAILED = '카드정보 인증에 실패하였습니다.';

function chargeRequest(order: ChargeOrder, moid: string) {
  return {
    moid,
    amount: order.amount,
    goodsName: order.name ?? order.merchantUid,
    cardQuota: order.cardQuota,
    buyer: order.buyer,
    mallUserId: order.customerUid ?? undefined,
    taxFree: order.taxFree,
  };
}

/**
 * POST /subscribe/payments/onetime: a key-in payment. With customer_uid the card is first stored as
 * a billing key (V1), and the charge then goes through that key.
 */
export async function payOnetime(deps: Deps, order: ChargeOrder, card: CardInput, pg: string | null | undefined) {
  if (order.customerUid) return payOnetimeStoringKey(deps, { ...order, customerUid: order.customerUid }, card, pg);
  let refusedCard: { code: string; message: string } | null = null;
  // methods, not arrow properties: see payAgain
  const payment = await chargeWith(deps, {
    query: channelChoice(deps, order.merchantId, pg, 'api', keyInCapable),
    async explainMissing() {
      await keyInChannel(deps, order.merchantId, pg);
      throw new PierError('refused', CHANNEL_CHANGED);
    },
    charge(_found, channel) {
      return async (moid) => {
        const result = await channel.connector.chargeKeyIn(channel.credentials, card, chargeRequest(order, moid));
        if (result.outcome === 'declined' && result.stage === 'authentication') refusedCard = result;
        return result;
      };
    },
  }, order);
  // V1 answers card data that fails authentication with code -1 and no payment object; the attempt
  // is still recorded as failed. An issuer's decline of a valid card stays a `failed` payment, code 0.
  if (refusedCard) {
    const { code, message } = refusedCard as { code: string; message: string };
    throw new PierError('card_refused', `${CARD_AUTH_FAILED} [${code}]${message}`);
  }
  return payment;
}

/**
 * onetime with customer_uid: the card becomes the customer's billing key, and the charge goes
 * through it. A request refused for its merchant_uid (paid, or in flight) must change nothing, so
 * the stored card is replaced only once the attempt holds the merchant_uid lock:
 *  1. refuse at once when the merchant_uid is taken (no key is issued for a request refused anyway);
 *  2. issue the key at the PG, storing nothing;
 *  3. record the attempt through the channel that issued it (the lock); only then store the key
 *     under customer_uid, before the PG is asked to charge it, so a charge in doubt or declined
 *     leaves the key as V1 does (a declined first charge keeps the key, decision 0003);
 *  4. refused at 3 (a request for the same merchant_uid came in after 1): the new key is stored
 *     nowhere and is deleted at the PG again.
 */
async function payOnetimeStoringKey(deps: Deps, order: ChargeOrder & { customerUid: string }, card: CardInput, pg: string | null | undefined) {
  await refuseIfMerchantUidTaken(deps, order.merchantId, order.merchantUid);
  const customer: CustomerFields = {
    customer_name: order.buyer.name,
    customer_email: order.buyer.email,
    customer_tel: order.buyer.tel,
    customer_addr: order.buyer.addr,
    customer_postcode: order.buyer.postcode,
  };
  const issuer = await keyInChannel(deps, order.merchantId, pg);
  const issued = await issueAtPg(issuer, card, customer);
  let stored = false;
  try {
    // a stop began while the PG issued the key: the charge would be a second PG operation past
    // what the stop's deadline covers. Nothing is charged or stored; the key is deleted at the PG
    // again (below) and the merchant sends the request again (decision 0113)
    if (deps.stopping?.aborted) throw new PierError('unavailable', STOPPING_MESSAGE, 'this Pier process began stopping while the PG issued the billing key: nothing was charged or stored; send the request again');
    return await chargeWith(deps, {
      query: channelOfId(deps, order.merchantId, issuer.row.id),
      async explainMissing() {
        throw new PierError('refused', CHANNEL_CHANGED);
      },
      async admitted() {
        await storeBillingKey(deps, order.merchantId, order.customerUid, issuer, issued, customer);
        stored = true;
      },
      charge(_found, channel) {
        return (moid) => channel.connector.chargeBillingKey(channel.credentials, issued.billingKey, chargeRequest(order, moid));
      },
    }, { ...order, customerUidUsage: 'payment' });
  } catch (err) {
    if (!stored) await forgetIssuedKey(deps, issuer, issued);
    throw err;
  }
}

const keyInCapable = (c: Connector) => c.capabilities.keyIn;

/** The API channel `pg` names, able to take a card number; the V1 error when there is none. */
async function keyInChannel(deps: Deps, merchantId: string, pg: string | null | undefined): Promise<ResolvedChannel> {
  const channel = await resolveChannel(deps, merchantId, pg, 'api');
  if (!keyInCapable(channel.connector)) {
    throw new PierError('not_supported', `${channel.row.provider}는 키인 결제를 지원하지 않습니다.`);
  }
  return channel;
}

/** The channel was there when asked why it was missing: it changed meanwhile; the merchant may simply retry. */
const CHANNEL_CHANGED = 'PG 설정이 변경되는 중입니다. 잠시 후 다시 시도하세요.';

/** POST /subscribe/payments/again: a charge with a stored billing key, through the channel that issued it. */
export async function payAgain(deps: Deps, order: ChargeOrder & { customerUid: string | null }) {
  const customerUid = order.customerUid;
  if (!customerUid) throw new PierError('invalid_parameter', 'customer_uid is required');
  // methods, not arrow properties: see fromTemplate's `compile` (every payment makes this object)
  return chargeWith(deps, {
    query: billingKeyChoice(deps, order.merchantId, customerUid),
    async explainMissing() {
      const found = await findBillingKeyWithChannel(deps, order.merchantId, customerUid);
      if (!found) throw new PierError('unknown_buyer', UNKNOWN_BUYER);
      const { key } = found;
      if (!found.channel) throw new PierError('refused', `빌링키를 발급한 PG 설정(${key.pg_provider}.${key.pg_id})이 삭제되었습니다.`);
      openChannel(deps, found.channel);
      throw new PierError('refused', CHANNEL_CHANGED);
    },
    charge(found, channel) {
      const billingKey = deps.vault.open(found.billing_key_sealed);
      return (moid) => channel.connector.chargeBillingKey(channel.credentials, billingKey, chargeRequest(order, moid));
    },
  }, order);
}
