/**
 * The buyer's browser without a browser: the tests that drive Pier's checkout and the simulator's
 * PG window over plain HTTP read each page's form and post it on, as a browser would.
 *
 * @example
 *   const toPg = await postForm(`${pierUrl}/checkout/${id}/start`, { agree: '1', card_code: '366' });
 *   const pgForm = formOf(toPg.html, 'pg-form');
 */

export const unescapeHtml = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The action and hidden fields of the form with this id. */
export function formOf(html: string, id: string): { action: string; fields: Record<string, string> } {
  const open = new RegExp(`<form[^>]*\\sid="${id}"[^>]*>`).exec(html);
  if (!open) throw new Error(`no form #${id} in:\n${html.slice(0, 2000)}`);
  const body = html.slice(open.index, html.indexOf('</form>', open.index));
  const attr = (tag: string, name: string) => {
    const a = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
    return a ? unescapeHtml(a[1]!) : undefined;
  };
  const fields: Record<string, string> = {};
  for (const input of body.matchAll(/<input [^>]*>/g)) {
    if (attr(input[0], 'type') === 'hidden') fields[attr(input[0], 'name')!] = attr(input[0], 'value') ?? '';
  }
  return { action: attr(open[0], 'action')!, fields };
}

/** Posts a form as a browser does (urlencoded); the answer's status and HTML. */
export async function postForm(url: string, fields: Record<string, string>): Promise<{ status: number; html: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(), redirect: 'manual' });
  return { status: res.status, html: await res.text() };
}

/** The rsp a checkout result page hands to the SDK. */
export const rspOf = (html: string) => JSON.parse(/<script type="application\/json" id="pier-data">(.*?)<\/script>/s.exec(html)![1]!).rsp as Record<string, any>;
