/**
 * What a PG's simulator offers Pier's sandbox tools (the console's sandbox page, POST
 * /pier/sandbox/vbank-deposit, `pier sandbox deposit`, the demo shop's deposit button), in Pier's
 * terms, whatever the PG: its records beside Pier's, and a buyer's transfer into an issued virtual
 * account. Each simulator folder implements what it can (src/simulators/<pg>/tools.ts) and its line
 * in SIMULATOR_MODULES declares it; the core sees only this interface (decision 0080).
 */

/** One transaction as the simulator recorded it, its status in V1's words. */
export interface SimulatorTx {
  tid: string;
  /** the PG's account id: tPay's MID, NICE's clientId */
  mid: string;
  /** the order id Pier sent: the attempt's imp_uid */
  moid: string;
  amount: number;
  cancelledAmount: number;
  /** `paid`, `ready` (an unpaid virtual account), `cancelled` or `failed` */
  status: string;
  /** ms since the epoch */
  createdAt: number;
  payMethod?: string;
}

/** A buyer's transfer into an issued virtual account. */
export interface SimulatorDeposit {
  moid: string;
  mid: string;
  tid: string | null;
  amount: number;
  depositorName: string | null;
}

/** The simulator's HTTP answer, as it gave it (`{error}` when it refused). */
export interface SimulatorAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** The tools one PG's simulator offers, talking to it at `url`; a tool it cannot offer is absent. */
export interface PgSimulatorTools {
  /** V1 pg_provider code */
  provider: string;
  /** the PG's name as the console shows it */
  label: string;
  /** the simulator's base URL: the one the PG's connector calls in this Pier */
  url: string;
  /** the simulator's transactions of account `mid` */
  ledger?(mid: string): Promise<SimulatorTx[]>;
  /** pays into the virtual account; the simulator then notifies Pier as the PG would */
  deposit?(d: SimulatorDeposit): Promise<SimulatorAnswer>;
  /**
   * sets where the simulator sends account `mid`'s server-to-server notices (deposits, NICE's
   * webhooks): what an operator registers in the PG's own admin, which Pier's sandbox does for its
   * channels (core/sandbox/notify-urls.ts, decision 0086)
   */
  registerNotifyUrl?(mid: string, notifyUrl: string): Promise<SimulatorAnswer>;
  /** how to have the simulator send a deposit's notice again, for the CLI's hint; absent = it has no such endpoint */
  renotifyHint?(answer: Record<string, unknown>): string | null;
}

/** POSTs JSON to a simulator's control endpoint; its answer whatever the status. */
export async function postToSimulator(url: string, path: string, body: Record<string, unknown>): Promise<SimulatorAnswer> {
  const res = await fetch(`${url.replace(/\/+$/, '')}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: ((await res.json().catch(() => ({}))) ?? {}) as Record<string, unknown> };
}

/** GETs a simulator's JSON endpoint; throws on a non-2xx answer. */
export async function getFromSimulator<T>(url: string, path: string): Promise<T> {
  const res = await fetch(`${url.replace(/\/+$/, '')}${path}`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`simulator ${path} answered ${res.status}`);
  return (await res.json()) as T;
}
