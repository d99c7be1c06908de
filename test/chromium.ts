import { existsSync } from 'node:fs';

/** The Chromium the browser tests drive through playwright-core (`apt-get install -y chromium`); the tests that need it are skipped, and say so, without it. */
export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
