// The runs report as small multiples per layer (one facet per weight matrix, runs as colours,
// x = step): weight norm, distance from the run's first checkpoint, update size, and the
// distance between runs at equal steps (naive and aligned).
import { SPECTRAL_MAX_DIM, type RunsReport } from '../compare/trainingRuns';
import type { AnalysisView, ChartView, ViewJson } from '../report/analysisView';
import { type Row, cell, chart, fmt } from './compareViewParts';
import type { RunsWithDynamics } from '../dynamics/runsDynamics';
import { dynamicsSections } from './dynamicsView';

function facetLines(id: string, title: string, rows: Row[], y: string, yTitle: string, color: string, colorTitle: string, caption: string, layers: string[]): ChartView {
  const spec: { [key: string]: ViewJson } = {
    facet: { field: 'layer', type: 'nominal', title: 'Layer', sort: layers },
    columns: Math.min(3, Math.max(1, layers.length)),
    spec: {
      width: 200,
      height: 130,
      mark: { type: 'line', point: true, tooltip: true },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'Step' },
        // Not forced to 0: changes over training are small against a weight's norm.
        y: { field: y, type: 'quantitative', title: yTitle, scale: { zero: false } },
        color: { field: color, type: 'nominal', title: colorTitle },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
  return chart(id, title, rows, spec, caption);
}

export function runsView(r: RunsReport): AnalysisView {
  const points: Row[] = r.points.map((p) => ({ run: p.run, step: p.step, layer: p.layer, norm: cell(p.norm), distFromFirst: cell(p.distFromFirst), update: cell(p.update), relUpdate: cell(p.relUpdate), spectralNorm: cell(p.spectralNorm), stableRank: cell(p.stableRank) }));
  const spectral = points.filter((p) => p.spectralNorm !== null);
  const updates = points.filter((p) => p.update !== null);
  const cross: Row[] = r.cross.flatMap((c) => [
    { pair: `${c.runA} vs ${c.runB}`, comparison: 'naive', series: `${c.runB} (naive)`, step: c.step, layer: c.layer, distance: cell(c.distance), cosine: cell(c.cosine) },
    ...(c.alignedDistance !== null ? [{ pair: `${c.runA} vs ${c.runB}`, comparison: 'aligned', series: `${c.runB} (aligned)`, step: c.step, layer: c.layer, distance: cell(c.alignedDistance), cosine: cell(c.alignedCosine) }] : []),
  ]);
  const checkpoints = r.runs.reduce((a, run) => a + run.checkpoints.length, 0);
  const skipped = r.runs.reduce((a, run) => a + run.skipped.length, 0);
  const ref = r.runs[0]?.name ?? '';
  const charts = [
    facetLines('runs-norm', 'Weight norm ‖W_t‖', points, 'norm', '‖W_t‖', 'run', 'Run', 'Frobenius norm of each weight matrix at each checkpoint', r.layers),
    facetLines('runs-distance-from-first', 'Distance from the first checkpoint', points, 'distFromFirst', '‖W_t − W_first‖', 'run', 'Run', 'distance of each weight matrix from the same run\'s first checkpoint', r.layers),
    facetLines('runs-update', 'Update size between consecutive checkpoints', updates, 'update', '‖W_t − W_prev‖', 'run', 'Run', 'distance between consecutive checkpoints of a run (ordered by step)', r.layers),
  ];
  if (spectral.length) {
    charts.push(facetLines('runs-spectral-norm', 'Spectral norm σ₁ over training', spectral, 'spectralNorm', 'σ₁(W_t)', 'run', 'Run', `largest singular value of each weight matrix as out × in·k·k (Lanczos, converged); matrices wider than ${SPECTRAL_MAX_DIM} on both sides are left out`, r.layers));
    charts.push(facetLines('runs-stable-rank', 'Stable rank over training', spectral, 'stableRank', '‖W‖_F² / σ₁²', 'run', 'Run', 'stable rank ‖W_t‖_F² / σ₁(W_t)²', r.layers));
  }
  if (cross.length) {
    charts.push(facetLines('runs-cross-distance', `Distance to ${ref} at equal steps`, cross, 'distance', '‖W^ref_t − W^run_t‖', 'series', 'Run', r.aligned ? 'naive: as stored; aligned: after permuting the run\'s units onto the reference\'s (weight matching)' : 'distance between the reference run and each other run at equal steps', r.layers));
    charts.push(facetLines('runs-cross-cosine', `Cosine similarity to ${ref} at equal steps`, cross, 'cosine', 'cosine', 'series', 'Run', 'cosine similarity of the flattened weights', r.layers));
  }
  const dyn = (r as RunsWithDynamics).dynamics ? dynamicsSections((r as RunsWithDynamics).dynamics!) : undefined;
  if (dyn) charts.push(...dyn.charts);
  const last = new Map<string, number>();
  for (const run of r.runs) if (run.checkpoints.length) last.set(run.name, Math.max(...run.checkpoints.map((c) => c.step)));
  return {
    kind: 'runs',
    title: 'Training runs',
    subtitle: r.runs.map((run) => run.name).join(', '),
    facts: [
      { label: 'Runs', value: String(r.runs.length), definition: `the first (${ref}) is the reference the others are compared with` },
      { label: 'Checkpoints read', value: `${checkpoints}${skipped ? ` (${skipped} skipped)` : ''}` },
      { label: 'Weight matrices', value: String(r.layers.length), definition: 'floating tensors of 2 or more dimensions' },
      { label: 'Latest steps', value: [...last].map(([n, s]) => `${n}: ${s}`).join(', ') || '-' },
      ...(r.model ? [{ label: 'Model', value: r.model }] : []),
      ...(cross.length ? [{ label: 'Mean cosine to reference at the last shared step', value: fmt(meanLastCosine(r)) }] : []),
      ...(dyn?.facts ?? []),
    ],
    charts,
    tables: [
      {
        id: 'runs-checkpoints',
        title: 'Checkpoints',
        columns: ['run', 'step', 'file', 'step from'],
        rows: r.runs.flatMap((run) => run.checkpoints.map((c) => [run.name, c.step, c.file, c.stepSource])),
      },
      {
        id: 'runs-points',
        title: 'Per layer and checkpoint',
        columns: ['run', 'step', 'layer', '‖W‖', '‖W − W_first‖', '‖W − W_prev‖', 'relative update', 'σ₁', 'stable rank'],
        rows: r.points.map((p) => [p.run, p.step, p.layer, cell(p.norm), cell(p.distFromFirst), cell(p.update), cell(p.relUpdate), cell(p.spectralNorm), cell(p.stableRank)]),
      },
      ...(r.cross.length ? [{
        id: 'runs-cross',
        title: 'Between runs at equal steps',
        columns: ['reference', 'run', 'step', 'layer', 'distance', 'cosine', 'aligned distance', 'aligned cosine'],
        rows: r.cross.map((c) => [c.runA, c.runB, c.step, c.layer, cell(c.distance), cell(c.cosine), cell(c.alignedDistance), cell(c.alignedCosine)]),
      }] : []),
      ...(dyn?.tables ?? []),
    ],
    notes: [
      'Steps come from a global_step/step entry inside each checkpoint, else its file name, else an epoch entry.',
      ...r.runs.flatMap((run) => run.skipped.map((s) => `${run.name}/${s.file} skipped: ${s.reason}`)),
      ...r.warnings.filter((w) => !/: skipped \(/.test(w)),
      ...(dyn?.notes ?? []),
    ],
    report: JSON.parse(JSON.stringify(r)),
    complete: r.complete,
  };
}

function meanLastCosine(r: RunsReport): number | null {
  const step = Math.max(...r.cross.map((c) => c.step));
  const cs = r.cross.filter((c) => c.step === step && c.cosine !== null).map((c) => c.cosine!);
  return cs.length ? cs.reduce((a, b) => a + b, 0) / cs.length : null;
}
