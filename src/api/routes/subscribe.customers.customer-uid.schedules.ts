import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import { customerSchedulesRoute } from './subscribe.payments.schedule.customers.customer-uid.js';

/** GET /subscribe/customers/{customer_uid}/schedules — identical to /subscribe/payments/schedule/customers/{customer_uid} (V1). */
export default function route(app: PierApp, deps: Deps) {
  customerSchedulesRoute(app, deps, '/subscribe/customers/:customer_uid/schedules', 'billing keys');
}
