export { createNicepaySimulator, NICEPAY_SANDBOX_KEYS } from './app.js';
export type { NicepaySimulator, NicepaySimulatorOptions, NicepayKeyPair } from './app.js';
export { NICE_OPERATIONS, FAULT_KINDS } from './faults.js';
export type { NiceOperation, FaultKind, FaultWhen } from './faults.js';
export { USER_CANCEL, AUTH_OK } from './window-routes.js';
export { WEBHOOK_MAX_ATTEMPTS, WEBHOOK_RETRY_INTERVAL_MS } from './webhooks.js';
export { testCardNumber } from '../shared/test-cards.js';
