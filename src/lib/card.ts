/** Plain card data as it travels, in memory only, from the API edge to a PG. Never stored. */
export interface CardInput {
  /** digits only, 13 to 19 of them */
  number: string;
  /** four-digit year, e.g. 2029 */
  expiryYear: number;
  /** 1..12 */
  expiryMonth: number;
  /** YYMMDD birth date or 10-digit business registration number */
  birth?: string;
  /** first two digits of the card password */
  pwd2digit?: string;
  cvc?: string;
}

/**
 * Masks a card number the common Korean way: digits 7 to 12 become `*`
 * (e.g. `536112******1234`), so neither the full number nor more than the BIN and last four remain.
 */
export function maskCardNumber(digits: string): string {
  const clean = digits.replace(/\D/g, '');
  if (clean.length < 13) return '*'.repeat(clean.length);
  return clean.slice(0, 6) + '******' + clean.slice(12);
}

/** Luhn check digit validation. */
export function luhnValid(digits: string): boolean {
  if (!/^\d{12,19}$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
