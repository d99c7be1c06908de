export { createTpaySimulator, tpaySimulatorPlugin, TPAY_TEST_ACCOUNTS } from './app.js';
export type { TpaySimulatorOptions, TpaySimulatorAccount } from './app.js';
export { TPAY_OPERATIONS } from './routes.js';
export type { TpayOperation, SimFault } from './routes.js';
export { testCardNumber, TEST_DECLINE_CODES, ISSUER_REASONS } from '../shared/test-cards.js';
export { WINDOW_RESULT } from './window-routes.js';
export { SANDBOX_OTP } from './window-pages.js';
