import type { MessageKey } from './i18n.js';

/** Input the console refuses, with a message key per field (shown beside the field). */
export class FormError extends Error {
  override name = 'FormError';
  constructor(
    readonly fields: Partial<Record<string, MessageKey>>,
    readonly messageKey: MessageKey = 'form_has_errors',
  ) {
    super(messageKey);
  }
}

/** Field errors collected while parsing a form. */
export class Problems {
  readonly fields: Partial<Record<string, MessageKey>> = {};
  add(field: string, key: MessageKey) {
    if (!this.fields[field]) this.fields[field] = key;
  }
  get any() {
    return Object.keys(this.fields).length > 0;
  }
  throwIfAny() {
    if (this.any) throw new FormError(this.fields);
  }
}
