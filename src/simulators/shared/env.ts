/** Reading a standalone simulator's settings from the environment. */

/** A non-negative integer from `process.env[name]`, or `fallback` when unset; exits with a message when malformed. */
export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return n;
}
