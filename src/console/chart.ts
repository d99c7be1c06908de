import type { DailyStat } from '../core/console-payments.js';
import { esc, raw, type Html } from './html.js';

/**
 * Daily volume (bars, left axis) and approval rate (line, right axis, 0–100 %) as inline SVG:
 * no script, no external resource, readable at any width (viewBox scales).
 */
export function dailyChart(days: DailyStat[], labels: { volume: string; rate: string; title: string }): Html {
  const W = 720;
  const H = 260;
  const pad = { l: 64, r: 44, t: 20, b: 36 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const maxV = niceMax(Math.max(1, ...days.map((d) => d.volume)));
  const step = iw / Math.max(1, days.length);
  const bw = Math.max(4, step * 0.6);
  const y = (v: number) => pad.t + ih - (v / maxV) * ih;
  const yr = (r: number) => pad.t + ih - r * ih;
  const parts: string[] = [];
  parts.push(`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">`);
  parts.push(`<title id="chart-title">${esc(labels.title)}</title>`);
  for (let i = 0; i <= 4; i++) {
    const v = (maxV / 4) * i;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${yy}" y2="${yy}" stroke="#e3e6ea" stroke-width="1"/>`);
    parts.push(`<text x="${pad.l - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#5b6470">${esc(short(v))}</text>`);
    parts.push(`<text x="${W - pad.r + 6}" y="${yr(i / 4).toFixed(1)}" dominant-baseline="middle" font-size="11" fill="#b4531b">${i * 25}%</text>`);
  }
  days.forEach((d, i) => {
    const x = pad.l + step * i + (step - bw) / 2;
    const yy = y(d.volume);
    parts.push(
      `<rect class="bar" x="${x.toFixed(1)}" y="${yy.toFixed(1)}" width="${bw.toFixed(1)}" height="${(pad.t + ih - yy).toFixed(1)}" fill="#2f6fde" data-day="${d.day}" data-volume="${d.volume}"><title>${esc(d.day)}: ${esc(d.volume.toLocaleString('ko-KR'))} KRW, ${d.approved}/${d.attempts}</title></rect>`,
    );
    if (i % Math.ceil(days.length / 7) === 0 || i === days.length - 1) {
      parts.push(`<text x="${(pad.l + step * i + step / 2).toFixed(1)}" y="${H - pad.b + 16}" text-anchor="middle" font-size="11" fill="#5b6470">${esc(d.day.slice(5))}</text>`);
    }
  });
  const pts = days
    .map((d, i) => (d.approvalRate === null ? null : `${(pad.l + step * i + step / 2).toFixed(1)},${yr(d.approvalRate).toFixed(1)}`))
    .filter((p): p is string => p !== null);
  if (pts.length > 1) parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#e0702a" stroke-width="2"/>`);
  for (const p of pts) {
    const [cx, cy] = p.split(',');
    parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="#e0702a"/>`);
  }
  parts.push(`<rect x="${pad.l}" y="${H - 12}" width="10" height="10" fill="#2f6fde"/><text x="${pad.l + 14}" y="${H - 3}" font-size="11" fill="#333">${esc(labels.volume)}</text>`);
  parts.push(`<rect x="${pad.l + 150}" y="${H - 8}" width="14" height="2" fill="#e0702a"/><text x="${pad.l + 168}" y="${H - 3}" font-size="11" fill="#333">${esc(labels.rate)}</text>`);
  parts.push('</svg>');
  return raw(parts.join(''));
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function short(v: number): string {
  if (v >= 100_000_000) return `${+(v / 100_000_000).toFixed(1)}억`;
  if (v >= 10_000) return `${+(v / 10_000).toFixed(1)}만`;
  return String(Math.round(v));
}
