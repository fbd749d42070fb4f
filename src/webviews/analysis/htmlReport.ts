// The whole panel as one self-contained HTML file (to attach to an issue or a paper draft):
// title, facts with their definitions, every chart as inline SVG drawn on white, every table,
// the notes. No scripts, no external resources; every string from the view is escaped.
import type { AnalysisView } from '../../analysis/report/analysisView';
import { exportChart } from '../editor/charts';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function cellText(c: string | number | boolean | null): string {
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : Math.abs(c) >= 1e-3 && Math.abs(c) < 1e6 ? c.toFixed(4) : c.toExponential(3);
  return c === null ? '—' : String(c);
}

const STYLE = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f1f1f;background:#fff;max-width:1000px;margin:24px auto;padding:0 16px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:24px 0 6px}.sub{color:#3b3b3b;margin:0 0 16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}dt{color:#3b3b3b}dd{margin:0}.def{color:#555;font-size:.9em;margin-left:8px}
figure{margin:16px 0}figcaption{color:#3b3b3b;font-size:.9em}table{border-collapse:collapse;font-size:.9em}th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}footer{color:#555;font-size:.85em;margin-top:32px}`;

export async function htmlReport(v: AnalysisView): Promise<string> {
  const parts: string[] = [`<h1>${esc(v.title)}</h1>`];
  if (v.subtitle) parts.push(`<p class="sub">${esc(v.subtitle)}</p>`);
  if (v.facts.length) {
    parts.push('<dl>');
    for (const f of v.facts) parts.push(`<dt>${esc(f.label)}</dt><dd>${esc(f.value)}${f.definition ? `<span class="def">${esc(f.definition)}</span>` : ''}</dd>`);
    parts.push('</dl>');
  }
  for (const c of v.charts) {
    let svg: string;
    try {
      svg = await exportChart(c.spec, 'svg');
    } catch (e) {
      svg = `<p>(this chart could not be drawn: ${esc((e as Error).message)})</p>`;
    }
    parts.push(`<figure><h2>${esc(c.title)}</h2>${svg}${c.caption ? `<figcaption>${esc(c.caption)}</figcaption>` : ''}</figure>`);
  }
  for (const t of v.tables) {
    parts.push(`<h2>${esc(t.title)}</h2><table><tr>${t.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`);
    for (const r of t.rows) parts.push(`<tr>${r.map((c) => `<td${typeof c === 'number' ? ' class="num"' : ''}>${esc(cellText(c))}</td>`).join('')}</tr>`);
    parts.push('</table>');
  }
  if (v.notes.length) parts.push(`<h2>Notes</h2><ul>${v.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  parts.push(`<footer>Checkpoint Lens · ${esc(new Date().toISOString().slice(0, 19).replace('T', ' '))} UTC</footer>`);
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>${esc(v.title)}</title><style>${STYLE}</style></head><body>\n${parts.join('\n')}\n</body></html>\n`;
}
