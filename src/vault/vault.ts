import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** how many opened channel secrets a process keeps (openRemembered); the oldest goes first */
const REMEMBERED_MAX = 1024;

/**
 * Encrypts secrets at rest (billing keys, PG merchant keys, cancel passwords) with AES-256-GCM.
 * The ciphertext carries the id of the key that made it (`v1.<keyId>.<iv>.<tag>.<data>`), so keys
 * can rotate: new data uses the first key, old data still opens with any key in the ring.
 *
 * @example
 *   const vault = Vault.fromSpec('k1:' + randomBytes(32).toString('base64'));
 *   const box = vault.seal('tpay-card-token');   // 'v1.k1.…'
 *   vault.open(box)                              // 'tpay-card-token'
 */
export class Vault {
  private readonly remembered = new Map<string, string>();

  private constructor(private readonly keys: Map<string, Buffer>, readonly activeKeyId: string) {}

  /** `id:base64key[,id:base64key…]`; the first key encrypts. */
  static fromSpec(spec: string): Vault {
    const keys = new Map<string, Buffer>();
    let active = '';
    const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
    for (const [n, part] of parts.entries()) {
      const idx = part.indexOf(':');
      const id = part.slice(0, idx);
      const key = Buffer.from(part.slice(idx + 1), 'base64');
      // named by its place in the list, never by its text: a key pasted without its id is all key
      if (idx <= 0 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new Error(`vault key ${n + 1} of ${parts.length}: expected id:base64key (an id of letters, digits, _ or -, a colon, then the key)`);
      if (key.length !== 32) throw new Error(`vault key "${id}": must be 32 bytes (base64), got ${key.length}`);
      keys.set(id, key);
      if (!active) active = id;
    }
    if (!active) throw new Error('vault: no keys given');
    return new Vault(keys, active);
  }

  /**
   * Reads the key file, creating it with a fresh random key when it does not exist (sandbox). Made
   * whole beside it and linked into place, which fails if the file exists: two processes starting
   * at once on one data dir read the one key that won, never a file still empty (written in place,
   * the other read "" and did not start) nor each a key of its own (sealing what the other cannot open).
   */
  static fromKeyFile(path: string): Vault {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      const id = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`;
      const made = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
      writeFileSync(made, `${id}:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
      try {
        linkSync(made, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        rmSync(made, { force: true });
      }
    }
    return Vault.fromSpec(readFileSync(path, 'utf8').trim());
  }

  seal(plaintext: string): string {
    const key = this.keys.get(this.activeKeyId)!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ['v1', this.activeKeyId, iv.toString('base64url'), tag.toString('base64url'), data.toString('base64url')].join('.');
  }

  open(box: string): string {
    const [version, keyId, iv, tag, data] = box.split('.');
    if (version !== 'v1' || data === undefined) throw new Error('vault: not a sealed value');
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`vault: key "${keyId}" is not in the key ring`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  }

  /**
   * open() for the few sealed values every payment opens again (a channel's merchant key and cancel
   * password), remembered after their first opening: AES-GCM and the base64url decoding cost a few
   * microseconds each, twice per payment. Only values that are few by nature belong here (not
   * billing keys, one per customer); the ring's keys, which open everything, are in this memory
   * anyway. A sealed value names its key and IV, so a re-sealed or rotated secret is a new entry.
   */
  openRemembered(box: string): string {
    let plain = this.remembered.get(box);
    if (plain === undefined) {
      plain = this.open(box);
      if (this.remembered.size >= REMEMBERED_MAX) this.remembered.delete(this.remembered.keys().next().value!);
      this.remembered.set(box, plain);
    }
    return plain;
  }

  /**
   * A key for another purpose (e.g. signing access tokens), derived from the active vault key with
   * HKDF so Pier needs only one secret in its configuration.
   */
  derivedKey(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.keys.get(this.activeKeyId)!, Buffer.alloc(0), `pier:${purpose}`, 32));
  }

  /** The same derivation under every key in the ring, the active key's first (to recognise what older keys made). */
  derivedKeys(purpose: string): Buffer[] {
    return [this.activeKeyId, ...[...this.keys.keys()].filter((id) => id !== this.activeKeyId)].map((id) =>
      Buffer.from(hkdfSync('sha256', this.keys.get(id)!, Buffer.alloc(0), `pier:${purpose}`, 32)),
    );
  }

  /** the ids of every key in the ring, the active one first */
  get keyIds(): string[] {
    return [this.activeKeyId, ...[...this.keys.keys()].filter((id) => id !== this.activeKeyId)];
  }

  /** the key id recorded in a sealed value */
  static keyIdOf(box: string): string {
    return box.split('.')[1] ?? '';
  }
}
