import Type from 'typebox';
import type { PierApp } from '../app.js';
import { getCustomers, UNKNOWN_CUSTOMER } from '../../core/billing-keys/billing-keys.js';
import { PierError, ok } from '../errors.js';
import { asArray, merchantOf } from '../request-helpers.js';
import { StoredCustomerUidItem } from '../schemas.js';

/** GET /subscribe/customers?customer_uid[]=… — 207 when only some exist, 404 when none; empty entries are not ids. */
export default function route(app: PierApp) {
  app.get(
    '/subscribe/customers',
    {
      schema: {
        tags: ['billing keys'],
        summary: 'Get several billing keys',
        querystring: Type.Object({ customer_uid: Type.Union([Type.Array(StoredCustomerUidItem, { maxItems: 100 }), StoredCustomerUidItem]) }),
      },
    },
    async (req, reply) => {
      // an empty entry is a field left blank, not a customer_uid (decision 0074, as GET /payments)
      const uids = asArray(req.query.customer_uid).filter((uid) => uid !== '');
      if (uids.length === 0) throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: customer_uid[]');
      const found = await getCustomers(req.deps, merchantOf(req), uids);
      if (found.length === 0) throw new PierError('not_found', UNKNOWN_CUSTOMER(uids.join(',')));
      if (found.length < new Set(uids).size) reply.status(207);
      return ok(found);
    },
  );
}
