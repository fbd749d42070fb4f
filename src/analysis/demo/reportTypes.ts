// The demo report's data, written by demo.ts and rendered by src/webviews/report/main.ts.
// Pure types (type-only imports), so the browser bundle can share them.
import type { AnalysisView } from '../report/analysisView';

export interface ReportSection {
  file: string;
  /** Loss and accuracy of the network it holds on the demo dataset, when it holds one. */
  evaluation?: string;
  format: string;
  summary: string;
  metadata: Record<string, unknown>;
  /** One row per tensor, in the order of REPORT_COLUMNS. */
  rows: (string | number)[][];
  charts: { title: string; spec: Record<string, unknown> }[];
}

export const REPORT_COLUMNS = ['tensor', 'dtype', 'shape', 'numel', 'mean', 'std', 'min', 'max', 'L2', 'zeros'] as const;

/** Everything the report page shows: one section per checkpoint, then the analyses. */
export interface ReportData {
  sections: ReportSection[];
  analyses: AnalysisView[];
}
