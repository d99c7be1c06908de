// Preloaded into a child Pier by test/api/functions-per-payment.test.ts (`node --import`): counts the
// names set on functions (esbuild's keepNames `__name`, an Object.defineProperty of `name` each time
// a named function is made), by the line that made them. SIGUSR2 starts a window (counts reset);
// the next SIGUSR2 writes the window's counts to PIER_TEST_FUNCTION_NAMES_FILE.
import { writeFileSync } from 'node:fs';

const define = Object.defineProperty;
let sites = new Map();
let open = false;
Object.defineProperty = function (target, key, descriptor) {
  if (open && key === 'name' && typeof target === 'function') {
    // [0] Error, [1] here, [2] __name, [3] the line that made the function
    const site = (new Error().stack ?? '').split('\n')[3]?.trim() ?? '?';
    sites.set(site, (sites.get(site) ?? 0) + 1);
  }
  return define(target, key, descriptor);
};
process.on('SIGUSR2', () => {
  if (!open) {
    sites = new Map();
    open = true;
    writeFileSync(`${process.env.PIER_TEST_FUNCTION_NAMES_FILE}.open`, '');
    return;
  }
  open = false;
  writeFileSync(process.env.PIER_TEST_FUNCTION_NAMES_FILE, JSON.stringify([...sites]));
});
