/** What every connector does with a PG's slip URL before it becomes V1 `receipt_url`. */

/**
 * A receipt URL from the PG, or null: only an absolute http(s) URL that fits V1's receipt_url
 * (300 characters) is passed on, since merchants show it to buyers as a link.
 */
export function receiptUrlOf(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 300) return null;
  try {
    const u = new URL(raw);
    return u.protocol === 'https:' || u.protocol === 'http:' ? raw : null;
  } catch {
    return null;
  }
}
