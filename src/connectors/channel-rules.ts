/**
 * Checks every PG's channel rules share (connectors/<pg>/channel-rules.ts use them).
 *
 * @example
 *   const problems = [...secretProblems(s, o, { label: 'secretKey', max: 200 }), ...baseUrlProblems(s.baseUrl)];
 */
import type { ChannelProblem, ChannelSettings } from './types.js';

/** The secret: required on a new channel, kept (may be empty) when editing; bounded in length. */
export function secretProblems(s: ChannelSettings, o: { editing: boolean }, rule: { label: string; max: number }): ChannelProblem[] {
  if (!s.merchantKey) return o.editing ? [] : [{ field: 'merchantKey', code: 'required', message: `${rule.label} is required` }];
  if (s.merchantKey.length > rule.max) return [{ field: 'merchantKey', code: 'too_long', message: `${rule.label}: at most ${rule.max} characters` }];
  return [];
}

/**
 * A channel's own API base URL: absent, or an absolute http(s) URL without credentials, query or
 * fragment (it is joined with the PG's paths, and never echoed with secrets in it). In production
 * only operators set it (the console refuses a new address there, decision 0046), so any host is
 * allowed: the PG's address is theirs to choose, as with the config's hosts.
 */
export function baseUrlProblems(baseUrl: string | null): ChannelProblem[] {
  if (baseUrl === null || baseUrl === '') return [];
  const bad = (message: string): ChannelProblem[] => [{ field: 'baseUrl', code: 'invalid', message }];
  if (baseUrl.length > 300) return [{ field: 'baseUrl', code: 'too_long', message: 'base URL: at most 300 characters' }];
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return bad('base URL: not an absolute URL (e.g. https://sandbox-api.nicepay.co.kr)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad('base URL: http or https only');
  if (url.username || url.password) return bad('base URL: must not carry a user name or password');
  if (url.search || url.hash || baseUrl.includes('?') || baseUrl.includes('#')) return bad('base URL: no query or fragment');
  return [];
}

/** A channel without a base URL setting: refuse one rather than ignore it silently. */
export function noBaseUrl(baseUrl: string | null, pg: string): ChannelProblem[] {
  return baseUrl ? [{ field: 'baseUrl', code: 'not_allowed', message: `base URL: ${pg} channels use the configured PG address` }] : [];
}
