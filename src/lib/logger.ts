import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line even if a caller logs a whole body by mistake.
 * Card data is masked before it is logged anywhere; this is the second fence.
 */
const REDACT = [
  'card_number', '*.card_number', 'pwd_2digit', '*.pwd_2digit', 'birth', '*.birth', 'cvc', '*.cvc', 'expiry', '*.expiry',
  'imp_secret', '*.imp_secret', 'req.headers.authorization', 'req.headers["x-imptokenheader"]',
  'card_num', '*.card_num', 'card_pwd', '*.card_pwd', 'buyer_auth_num', '*.buyer_auth_num', 'api_key', '*.api_key', 'cancel_pw', '*.cancel_pw',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}
