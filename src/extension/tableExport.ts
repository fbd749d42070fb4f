// vscode-free helpers of the editor host: table exports, safe file writes, the auto-compute
// decision. Unit-tested without VS Code.
import { type TensorRow, tableOf } from '../analysis/core/tensorTable';
import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { formatBytes } from '../analysis/core/format';
import type { Listing, StatsEntry, Totals } from '../analysis/protocol';

const CSV_COLUMNS = [
  'name', 'dtype', 'shape', 'numel', 'nbytes', 'shares_storage_with',
  'mean', 'std', 'min', 'max', 'l2', 'zeros', 'zeros_pct', 'nan', 'inf', 'stats_error',
] as const;

/**
 * One CSV cell. Strings are quoted when needed; a string that a spreadsheet would run as a
 * formula (=, +, -, @, tab, CR first) is prefixed with an apostrophe: tensor names come from
 * the file and must not become formulas.
 */
export function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

function statsMap(stats: Iterable<StatsEntry>): Map<string, StatsEntry> {
  const m = new Map<string, StatsEntry>();
  for (const e of stats) m.set(e.name, e);
  return m;
}

/** The tensor table as CSV (RFC 4180, CRLF line ends, a header row). */
export function tableCsv(listing: Listing, stats: Iterable<StatsEntry>): string {
  const byName = statsMap(stats);
  const table = tableOf(listing.tensors);
  const lines = [CSV_COLUMNS.join(',')];
  for (let i = 0; i < table.length; i++) {
    const t = table.row(i);
    const e = byName.get(t.name);
    const s = e?.stats ?? null;
    const row: (string | number | null)[] = [
      t.name,
      t.dtype,
      t.shape.join('x'),
      t.numel,
      t.nbytes,
      table.sharing(i)?.others.join(' ') ?? '',
      s?.mean ?? null,
      s?.std ?? null,
      s?.min ?? null,
      s?.max ?? null,
      s?.l2 ?? null,
      s?.zeros ?? null,
      s && s.count > 0 ? (100 * s.zeros) / s.count : null,
      s?.nan ?? null,
      s?.inf ?? null,
      e?.error ?? '',
    ];
    lines.push(row.map(csvCell).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

export interface TableJson {
  file: string;
  format: string;
  totals: Totals;
  metadata: Listing['metadata'];
  values: Listing['values'];
  warnings: string[];
  tensors: (TensorRow & { stats: StatsEntry['stats']; statsError?: string })[];
}

/** The tensor table with metadata and full statistics (histograms included) as JSON. */
export function tableJson(listing: Listing, stats: Iterable<StatsEntry>): string {
  const byName = statsMap(stats);
  const table = tableOf(listing.tensors);
  const out: TableJson = {
    file: basename(listing.path),
    format: listing.format,
    totals: listing.totals,
    metadata: listing.metadata,
    values: listing.values,
    warnings: listing.warnings,
    tensors: Array.from({ length: table.length }, (_, i) => {
      const t = table.row(i);
      const e = byName.get(t.name);
      const shared = t.sharesStorageWith ? undefined : table.sharing(i);
      return { ...t, ...(shared ? { sharesStorageWith: shared.others } : {}), stats: e?.stats ?? null, ...(e?.error ? { statsError: e.error } : {}) };
    }),
  };
  return JSON.stringify(out, null, 2) + '\n';
}

/** A file-name-safe stem from a tensor or file name. */
export function safeStem(s: string, max = 80): string {
  const t = s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, max);
  return t || 'export';
}

/** The checkpoint's name without its checkpoint extensions (model.safetensors.index.json → model). */
export function checkpointStem(path: string): string {
  return safeStem(basename(path).replace(/(\.(safetensors|index|json|pt|pth|ckpt|bin|t7|npz|npy))+$/i, ''));
}

/**
 * Writes `data` to `target` atomically: a temporary file beside it, then a rename, so a
 * crash or a full disk never leaves a half-written export under the chosen name.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await fsp.writeFile(tmp, data, { flag: 'wx' });
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** Bytes of a chart export from the webview: PNG data URLs are decoded, text is UTF-8. */
export function exportBytes(format: 'svg' | 'png' | 'json' | 'csv', content: string): Uint8Array {
  if (format === 'png') {
    const m = /^data:image\/png;base64,(.*)$/s.exec(content);
    if (!m) throw new Error('not a PNG data URL');
    return Buffer.from(m[1], 'base64');
  }
  return Buffer.from(content, 'utf8');
}

export interface AutoComputeDecision {
  run: boolean;
  reason?: string;
}

/**
 * Tensors above which statistics wait to be asked for: each tensor's statistics (with its
 * histogram) cross to the page, so a million small tensors would send a gigabyte for numbers
 * nobody scrolls to. Selecting a tensor still computes its own at once.
 */
export const MAX_AUTO_TENSORS = 100_000;

export function autoComputeDecision(settings: { autoCompute: boolean; maxAutoBytes: number }, totalBytes: number, tensors = 0): AutoComputeDecision {
  if (!settings.autoCompute) return { run: false, reason: 'Automatic statistics are off (checkpointLens.statistics.autoCompute).' };
  if (totalBytes > settings.maxAutoBytes) {
    return { run: false, reason: `The checkpoint holds ${formatBytes(totalBytes)} of tensors, more than checkpointLens.statistics.maxAutoBytes (${formatBytes(settings.maxAutoBytes)}).` };
  }
  if (tensors > MAX_AUTO_TENSORS) {
    return { run: false, reason: `The checkpoint holds ${tensors.toLocaleString('en-US')} tensors: statistics are computed for the tensor you select, or for all with Compute statistics.` };
  }
  return { run: true };
}
