/**
 * tPay's window encryption, the merchant's half (spec §2.1; FACT from the tPay PHP sample's Encryptor):
 *   key = MD5(ediDate + merchantKey) as its 16 raw bytes (the sample hex-decodes md5()),
 *   IV  = the first 16 characters of merchantKey,
 *   AES-128-CBC, PKCS#7 padding, base64.
 * `encryptData` = enc(amt + mid + moid); results carry `amt` and `moid` encrypted the same way
 * under the result's own `ediDate`.
 *
 * The simulator has its own copy of these few lines (src/simulators/jtnet/window-crypto.ts): the
 * connector and the simulator are two parties of a protocol and never import each other.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';

function keyAndIv(ediDate: string, merchantKey: string): { key: Buffer; iv: Buffer } {
  const iv = Buffer.from(merchantKey, 'utf8').subarray(0, 16);
  if (iv.length < 16) throw new Error('tPay merchantKey must be at least 16 characters (its first 16 are the IV)');
  return { key: createHash('md5').update(ediDate + merchantKey, 'utf8').digest(), iv };
}

export function tpayEncrypt(plain: string, ediDate: string, merchantKey: string): string {
  const { key, iv } = keyAndIv(ediDate, merchantKey);
  const c = createCipheriv('aes-128-cbc', key, iv);
  return Buffer.concat([c.update(plain, 'utf8'), c.final()]).toString('base64');
}

/** The plaintext, or null when the value does not decrypt under this ediDate and key. */
export function tpayDecrypt(b64: string, ediDate: string, merchantKey: string): string | null {
  try {
    const { key, iv } = keyAndIv(ediDate, merchantKey);
    const d = createDecipheriv('aes-128-cbc', key, iv);
    return Buffer.concat([d.update(Buffer.from(b64, 'base64')), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * OUR DESIGN: the deposit notice's `signature`, hex HMAC-SHA256 keyed with the merchantKey over
 * `mid|tid|moid|amt|depositDate|depositorName|ediDate`.
 */
export function depositNoticeSignature(merchantKey: string, f: Record<string, string | undefined>): string {
  const text = ['mid', 'tid', 'moid', 'amt', 'depositDate', 'depositorName', 'ediDate'].map((k) => f[k] ?? '').join('|');
  return createHmac('sha256', merchantKey).update(text, 'utf8').digest('hex');
}

export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
