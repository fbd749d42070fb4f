// vscode-free exports of an analysis view: a chart's rows or a table as CSV/JSON, the report
// as JSON, and file names for them. Unit-tested without VS Code.
import type { AnalysisView } from '../analysis/protocol';
import { csvCell, safeStem } from './tableExport';

type Cell = string | number | boolean | null;

function csv(columns: string[], rows: Cell[][]): string {
  const line = (r: Cell[]) => r.map((c) => csvCell(typeof c === 'boolean' ? String(c) : c)).join(',');
  return [line(columns), ...rows.map(line)].join('\r\n') + '\r\n';
}

export type ViewExport = { what: 'rows' | 'table'; id: string; format: 'csv' | 'json' } | { what: 'report'; format: 'json' };

/** The file content and a suggested file name for an export of `view`; throws when the id is unknown. */
export function viewExport(view: AnalysisView, e: ViewExport): { fileName: string; content: string } {
  const stem = safeStem(`${view.kind}-${view.title}`, 60);
  if (e.what === 'report') return { fileName: `${stem}.report.json`, content: JSON.stringify(view.report, null, 2) + '\n' };
  if (e.what === 'rows') {
    const c = view.charts.find((x) => x.id === e.id);
    if (!c) throw new Error(`no chart "${e.id}" in this view`);
    const columns = [...new Set(c.rows.flatMap((r) => Object.keys(r)))];
    const content = e.format === 'json' ? JSON.stringify(c.rows, null, 1) + '\n' : csv(columns, c.rows.map((r) => columns.map((k) => r[k] ?? null)));
    return { fileName: `${safeStem(c.id)}.${e.format}`, content };
  }
  const t = view.tables.find((x) => x.id === e.id);
  if (!t) throw new Error(`no table "${e.id}" in this view`);
  const content = e.format === 'json' ? JSON.stringify(t.rows.map((r) => Object.fromEntries(t.columns.map((k, i) => [k, r[i] ?? null]))), null, 1) + '\n' : csv(t.columns, t.rows);
  return { fileName: `${safeStem(t.id)}.${e.format}`, content };
}
