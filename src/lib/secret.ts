import { inspect } from 'node:util';

/**
 * Wraps a secret value so that it never reaches a log line or a JSON body by accident.
 * `String(secret)`, `JSON.stringify(secret)` and `console.log(secret)` all print a mask;
 * only `reveal()` hands out the plaintext.
 *
 * @example
 *   const pw = new Secret('123456');
 *   `${pw}`        // '******'
 *   pw.reveal()    // '123456'
 */
export class Secret<T extends string = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return '******';
  }
  toJSON(): string {
    return '******';
  }
  [inspect.custom](): string {
    return 'Secret(******)';
  }
}
