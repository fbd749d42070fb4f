// Plain-text tables and numbers for the human output of diff, runs and spectra.

/** Columns padded to their widest cell, two spaces apart. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, c) => rows.reduce((w, r) => Math.max(w, (r[c] ?? '').length), h.length));
  return [head, ...rows].map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** `digits` significant digits; '-' for a missing number. */
export function fmtNum(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (v === 0) return '0';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
}
