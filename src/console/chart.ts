import type { DailyStat } from '../core/console/payments.js';
import { esc, raw, type Html } from './html.js';

interface Layout {
  name: 'wide' | 'narrow';
  width: number;
  height: number;
  font: number;
  pad: { l: number; r: number; t: number; b: number };
}

// An SVG scales its text with its width, so one drawing cannot be readable both at 1280 px and on a
// 375 px phone (it shrank to ~4 px). Two drawings of the same data, one shown per width (console.css):
// the narrow one is drawn at about its on-screen size, so 13 units of text stay ~12 px.
const WIDE: Layout = { name: 'wide', width: 720, height: 270, font: 12, pad: { l: 64, r: 48, t: 16, b: 50 } };
const NARROW: Layout = { name: 'narrow', width: 340, height: 250, font: 13, pad: { l: 52, r: 42, t: 14, b: 54 } };

/**
 * Daily volume (bars, left axis) and approval rate (line, right axis, 0–100 %) as inline SVG:
 * no script, no external resource.
 *
 * @example
 *   dailyChart(await dailyStats(deps, merchantId, now, 14), { volume: '결제액(원)', rate: '승인율', title: '일별 결제액' })
 */
export function dailyChart(days: DailyStat[], labels: { volume: string; rate: string; title: string }): Html {
  return raw(draw(days, labels, WIDE) + draw(days, labels, NARROW));
}

function draw(days: DailyStat[], labels: { volume: string; rate: string; title: string }, L: Layout): string {
  const { width: W, height: H, pad, font } = L;
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const axis = volumeAxis(Math.max(0, ...days.map((d) => d.volume)));
  const step = iw / Math.max(1, days.length);
  const bw = Math.max(4, step * 0.6);
  const y = (v: number) => pad.t + ih - (v / axis.max) * ih;
  const yr = (r: number) => pad.t + ih - r * ih;
  const titleId = `chart-title-${L.name}`;
  const parts: string[] = [];
  parts.push(`<svg class="chart chart-${L.name}" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${titleId}" xmlns="http://www.w3.org/2000/svg" font-size="${font}">`);
  parts.push(`<title id="${titleId}">${esc(labels.title)}</title>`);
  axis.ticks.forEach((v, i) => {
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${yy}" y2="${yy}" stroke="#e3e6ea" stroke-width="1"/>`);
    parts.push(`<text class="y-volume" x="${pad.l - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#5b6470">${esc(axis.format(v))}</text>`);
    const rate = i / (axis.ticks.length - 1);
    parts.push(`<text class="y-rate" x="${W - pad.r + 6}" y="${yr(rate).toFixed(1)}" dominant-baseline="middle" fill="#b4531b">${Math.round(rate * 100)}%</text>`);
  });
  // x labels: every k-th day counted back from the last (today is always labelled), k chosen so that
  // labels ("11-30", about 3 em wide) never touch
  const labelWidth = font * 3.2 + 8;
  const every = Math.max(1, Math.ceil(labelWidth / step));
  days.forEach((d, i) => {
    const x = pad.l + step * i + (step - bw) / 2;
    const yy = y(d.volume);
    parts.push(
      `<rect class="bar" x="${x.toFixed(1)}" y="${yy.toFixed(1)}" width="${bw.toFixed(1)}" height="${(pad.t + ih - yy).toFixed(1)}" fill="#2f6fde" data-day="${esc(d.day)}" data-volume="${esc(String(d.volume))}"><title>${esc(d.day)}: ${esc(d.volume.toLocaleString('ko-KR'))} KRW, ${d.approved}/${d.attempts}</title></rect>`,
    );
    if ((days.length - 1 - i) % every === 0) {
      parts.push(`<text class="x-day" x="${(pad.l + step * i + step / 2).toFixed(1)}" y="${pad.t + ih + font + 6}" text-anchor="middle" fill="#5b6470">${esc(d.day.slice(5))}</text>`);
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
  // legend on its own line under the x labels
  const ly = H - 8;
  const rateX = pad.l + Math.max(120, font * (labels.volume.length + 4));
  parts.push(`<rect x="${pad.l}" y="${ly - font + 2}" width="${font - 2}" height="${font - 2}" fill="#2f6fde"/><text class="legend" x="${pad.l + font + 2}" y="${ly}" fill="#333">${esc(labels.volume)}</text>`);
  parts.push(`<rect x="${rateX}" y="${ly - font / 2}" width="14" height="2" fill="#e0702a"/><text class="legend" x="${rateX + 18}" y="${ly}" fill="#333">${esc(labels.rate)}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

/**
 * Five ticks from 0 at a round step (1, 2, 2.5 or 5 × 10ⁿ KRW, at least 1,000), all printed in one
 * unit: 억 or 만 when the step is a whole number of tenths of it, plain digits with separators otherwise.
 * An empty chart gets 0 – 4,000 rather than five labels rounding to `1, 1, 1, 0, 0`.
 */
export function volumeAxis(maxVolume: number): { max: number; ticks: number[]; format: (v: number) => string } {
  const want = Math.max(1000, maxVolume / 4);
  const p = 10 ** Math.floor(Math.log10(want));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= want && Number.isInteger(s)) ?? 10 * p;
  const ticks = [0, 1, 2, 3, 4].map((i) => i * step);
  const max = ticks[4];
  let format = (v: number) => v.toLocaleString('en-US');
  for (const [unit, suffix] of [[100_000_000, '억'], [10_000, '만']] as const) {
    if (max >= unit && step % (unit / 10) === 0) {
      const decimals = step % unit === 0 ? 0 : 1;
      format = (v: number) => (v === 0 ? '0' : `${(v / unit).toFixed(decimals)}${suffix}`);
      break;
    }
  }
  return { max, ticks, format };
}
