import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import certificationsImpUid from './certifications.imp-uid.js';
import codes from './codes.js';
import paymentsCancel from './payments.cancel.js';
import paymentsFind from './payments.find.js';
import paymentsFindAll from './payments.find-all.js';
import paymentsImpUid from './payments.imp-uid.js';
import paymentsImpUidBalance from './payments.imp-uid.balance.js';
import paymentsPrepare from './payments.prepare.js';
import paymentsStatus from './payments.status.js';
import payments from './payments.js';
import subscribeCustomers from './subscribe.customers.js';
import subscribeCustomersCustomerUid from './subscribe.customers.customer-uid.js';
import subscribeCustomersCustomerUidPayments from './subscribe.customers.customer-uid.payments.js';
import subscribePaymentsAgain from './subscribe.payments.again.js';
import subscribePaymentsOnetime from './subscribe.payments.onetime.js';
import usersGetToken from './users.get-token.js';
import usersPg from './users.pg.js';
import vbanks from './vbanks.js';
import sandboxClock from './sandbox.clock.js';
import sandboxVbankDeposit from './sandbox.vbank-deposit.js';
import subscribeCustomersCustomerUidSchedules from './subscribe.customers.customer-uid.schedules.js';
import subscribePaymentsSchedule from './subscribe.payments.schedule.js';
import subscribePaymentsScheduleCustomersCustomerUid from './subscribe.payments.schedule.customers.customer-uid.js';
import subscribePaymentsScheduleMerchantUid from './subscribe.payments.schedule.merchant-uid.js';
import subscribePaymentsScheduleMerchantUidReschedule from './subscribe.payments.schedule.merchant-uid.reschedule.js';
import subscribePaymentsScheduleMerchantUidRetry from './subscribe.payments.schedule.merchant-uid.retry.js';
import subscribePaymentsUnschedule from './subscribe.payments.unschedule.js';
import { webhookRoutes } from '../../webhooks/api.js';
import type { PgSimulatorTools } from '../../lib/simulator-tools.js';

/** Every V1 route Pier serves. Paths not listed here answer 501 from the not-found handler. */
export async function registerRoutes(app: PierApp, deps: Deps, opts: { simulatorTools?: readonly PgSimulatorTools[] } = {}) {
  for (const route of [
    usersGetToken,
    usersPg,
    subscribeCustomers,
    subscribeCustomersCustomerUid,
    subscribeCustomersCustomerUidPayments,
    subscribePaymentsOnetime,
    subscribePaymentsAgain,
    payments,
    paymentsImpUid,
    paymentsImpUidBalance,
    paymentsFind,
    paymentsFindAll,
    paymentsStatus,
    paymentsCancel,
    paymentsPrepare,
    codes,
    certificationsImpUid,
    vbanks,
    subscribePaymentsSchedule,
    subscribePaymentsUnschedule,
    subscribePaymentsScheduleMerchantUid,
    subscribePaymentsScheduleMerchantUidReschedule,
    subscribePaymentsScheduleMerchantUidRetry,
    subscribePaymentsScheduleCustomersCustomerUid,
    subscribeCustomersCustomerUidSchedules,
    // Pier's own, non-V1: webhook settings, delivery log, listen sessions; sandbox time and deposits
    webhookRoutes,
    sandboxClock,
    sandboxVbankDeposit,
  ]) {
    route(app, deps, opts);
  }
}
