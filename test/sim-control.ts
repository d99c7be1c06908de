import { expect } from 'vitest';

/**
 * A simulator's control endpoint (`/__control/<path>`, faults, holds, releases): a GET without a
 * body, a POST of `body` as JSON; the test fails on anything but a 2xx.
 */
export async function simulatorControl(simulatorUrl: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${simulatorUrl}/__control/${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.ok, `${path}: ${res.status}`).toBe(true);
  return res.json();
}
