// The spectra report as facts, a per-layer table, the singular value spectra (log-log) and α per layer.
import type { AnalysisView } from '../report/analysisView';
import type { SpectraReport } from '../spectra/spectra';
import { type Row, cell, chart } from './compareViewParts';
import { sequentialColours } from './viewParts';

/** How exact the spectra are: which matrices were exact, and how far Lanczos got on the others. */
function exactness(r: SpectraReport): { label: string; value: string; definition: string } {
  const lz = r.layers.filter((l) => l.lanczos);
  const exact = r.layers.length - lz.length;
  const timed = lz.filter((l) => l.lanczos!.timedOut);
  const partial = lz.filter((l) => !l.lanczos!.converged);
  const k = r.settings.topK;
  const budget = r.settings.budgetSeconds !== undefined ? `, within a ${r.settings.budgetSeconds} s budget` : '';
  let value = lz.length === 0 ? 'every singular value, exact' : exact === 0 ? `top ${k} by Lanczos` : `${exact} exact, ${lz.length} top ${k} by Lanczos`;
  if (partial.length) value += `; ${partial.length} not converged${timed.length ? ` (${timed.length} out of time)` : ''}`;
  const settled = partial.length ? ` Unconverged matrices: leading values settled — ${partial.map((l) => `${l.name} ${l.lanczos!.settled}`).join(', ')}.` : '';
  return {
    label: 'Exactness',
    value,
    definition: `exact: Householder QR + one-sided Jacobi in float64 (a few ulps of σ₁); Lanczos: values settled to 1e-9 of σ₁, the rest lower bounds${budget}.${settled}`,
  };
}

export function spectraView(r: SpectraReport): AnalysisView {
  const s = r.settings;
  const spectrum: Row[] = r.layers.flatMap((l) => l.singularValues.filter((v) => v > 0).map((v, i) => ({ layer: l.name, index: i + 1, singularValue: v })));
  const layerNames = r.layers.map((l) => l.name);
  const alphaRows: Row[] = r.layers.map((l, i): Row => (l.alpha ? { layer: l.name, order: i, alpha: l.alpha.alpha, xmin: l.alpha.xmin, nTail: l.alpha.nTail } : { layer: l.name, order: i, alpha: null, why: `fewer than ${s.minTail} positive eigenvalues` }));
  const units = r.layers.reduce((a, l) => a + (l.units?.units ?? 0), 0);
  const dead = r.layers.reduce((a, l) => a + (l.units?.dead ?? 0), 0);
  const dup = r.layers.reduce((a, l) => a + (l.units?.duplicates ?? 0), 0);
  return {
    kind: 'spectra',
    title: 'Weight spectra and unit diagnostics',
    subtitle: `${r.file}${r.model ? ` — ${r.model}` : ''}`,
    facts: [
      { label: 'Weight matrices', value: String(r.layers.length), definition: 'floating tensors with ≥ 2 dimensions; conv kernels reshaped to out × in·kh·kw' },
      exactness(r),
      { label: 'Layer order', value: r.order === 'graph' ? 'recognised model' : 'by name', definition: 'the order used for balancedness' },
      { label: 'Dead units', value: `${dead} of ${units}`, definition: `‖[w_i, b_i]‖ < ${s.deadThreshold} × the layer's largest incoming norm` },
      { label: 'Duplicated units', value: String(dup), definition: `live units whose incoming vector has cosine ≥ ${s.duplicateThreshold} with an earlier unit's (greedy groups)` },
    ],
    charts: [
      chart('spectra-singular-values', 'Singular value spectrum', spectrum, {
        mark: { type: 'line', point: false, tooltip: true },
        encoding: {
          x: { field: 'index', type: 'quantitative', scale: { type: 'log' }, title: 'Index i (log)' },
          y: { field: 'singularValue', type: 'quantitative', scale: { type: 'log' }, title: 'σ_i (log)' },
          detail: { field: 'layer', type: 'nominal' },
          // Depth order on a sequential scale: no colour repeats however many layers there are.
          color: { field: 'layer', type: 'ordinal', title: 'Layer (input → output)', sort: layerNames, scale: { domain: layerNames, range: sequentialColours(layerNames.length) }, legend: { columns: layerNames.length > 16 ? 2 : 1, labelLimit: 360, symbolLimit: 0 } },
        },
      }, `σ_i of each weight matrix, descending; exact when min(out, in) ≤ ${s.exactMaxDim}, else the top ${s.topK} by Lanczos`),
      chart('spectra-alpha', 'Power-law exponent α per layer', alphaRows, {
        layer: [
          {
            transform: [{ filter: 'isValid(datum.alpha)' }],
            mark: { type: 'point', filled: true, size: 60, tooltip: true },
            encoding: {
              x: { field: 'layer', type: 'nominal', sort: layerNames, title: 'Layer', scale: { domain: layerNames } },
              y: { field: 'alpha', type: 'quantitative', title: 'α', scale: { zero: false } },
            },
          },
          {
            // Layers without a fit are named in place, at the foot of the axis.
            transform: [{ filter: '!isValid(datum.alpha)' }],
            mark: { type: 'text', text: 'no α', angle: -90, align: 'left', baseline: 'middle', tooltip: true },
            encoding: {
              x: { field: 'layer', type: 'nominal', sort: layerNames, scale: { domain: layerNames } },
              y: { value: 'height' },
              tooltip: [{ field: 'layer', type: 'nominal' }, { field: 'why', type: 'nominal', title: 'no α' }],
            },
          },
        ],
      }, `continuous power-law MLE of the density of λ = σ² over [xmin, λ_max], xmin by minimum KS distance (tail ≥ ${s.minTail}); "no α": fewer than ${s.minTail} positive eigenvalues`),
    ],
    tables: [
      {
        id: 'spectra-layers',
        title: 'Layers',
        columns: ['layer', 'matrix', 'method', 'spectral norm', 'frobenius', 'stable rank', 'effective rank', 'α', 'α xmin', 'α tail', 'units', 'dead', 'duplicates'],
        rows: r.layers.map((l) => [l.name, `${l.matrix[0]}×${l.matrix[1]}`, l.method, cell(l.spectralNorm), cell(l.frobenius), cell(l.stableRank), cell(l.effectiveRank), cell(l.alpha?.alpha), cell(l.alpha?.xmin), l.alpha?.nTail ?? null, l.units?.units ?? null, l.units?.dead ?? null, l.units?.duplicates ?? null]),
      },
      {
        id: 'spectra-balancedness',
        title: 'Balancedness of consecutive layers',
        columns: ['layer', 'next', '‖W_ℓ‖_F² − ‖W_ℓ+1‖_F²'],
        rows: r.balancedness.map((b) => [b.layer, b.next, cell(b.value)]),
      },
    ],
    notes: [
      'Stable rank ‖W‖_F²/‖W‖₂²; effective rank exp(−Σ p log p) with p = σ/Σσ (Roy & Vetterli), only with the full spectrum.',
      `Exact spectra by Householder QR + one-sided Jacobi in float64; larger matrices: the top ${s.topK} singular values by Golub–Kahan–Lanczos, and α fitted on those only.`,
      ...(r.order === 'name' ? ['No model recognised: balancedness follows the weights in name order.'] : []),
      ...r.warnings,
      ...r.layers.filter((l) => l.alpha === null).map((l) => `${l.name}: no α (fewer than ${s.minTail} positive eigenvalues)`),
    ].map((n) => n.replace(/\s+/g, ' ')),
    report: JSON.parse(JSON.stringify(r)),
    complete: r.complete,
  };
}
