/** HTML escaping for the simulators' server-rendered pages. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Hidden form inputs carrying `fields`. */
export function hiddenInputs(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('\n');
}

/** A page that form-POSTs `fields` to `action` as soon as it loads (the window handing its result to the shop). */
export function autoPostPage(action: string, fields: Record<string, string>, note: string, lang = 'ko'): string {
  const inputs = hiddenInputs(fields);
  return `<!doctype html>
<html lang="${esc(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(note)}</title></head>
<body><p>${esc(note)}</p>
<form id="result" method="POST" action="${esc(action)}" accept-charset="utf-8">
${inputs}
<noscript><button type="submit">OK</button></noscript>
</form>
<script>document.getElementById('result').submit();</script>
</body></html>`;
}
