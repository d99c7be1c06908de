import { join } from 'node:path';
import type { Config } from '../config/index.js';
import { Vault } from './vault.js';

/** The configured key ring, or in sandbox the key file in the data folder (created on first use). */
export function openVault(config: Config): Vault {
  if (config.vault.keys) return Vault.fromSpec(config.vault.keys);
  // loadConfig already refused production without keys.
  return Vault.fromKeyFile(join(config.dataDir, 'vault.key'));
}
