// The alignment report as facts, a per-group similarity chart (before vs after) and a table.
import type { AlignCheckpointResult } from '../align/alignCheckpoint';
import type { AnalysisView } from '../report/analysisView';
import { type Row, chartSpec, fmt, jsonSafe } from './viewHelpers';
import { comparisonEncoding } from './viewParts';

/** What "similarity" means per method, shown beside the numbers. */
export function similarityDefinition(method: string): string {
  return method === 'activations'
    ? 'mean Pearson correlation between each unit of A and the unit of B matched to it, over the data'
    : "mean cosine between each unit's weight vector in A (every tensor the group touches, concatenated) and that of the unit of B matched to it";
}

export function alignView(r: AlignCheckpointResult): AnalysisView {
  const method = r.method === 'activations' ? 'activation matching' : 'weight matching';
  const rows: Row[] = r.groups.flatMap((g) => [
    { group: g.name, size: g.size, when: 'before (identity)', similarity: g.similarityBefore },
    { group: g.name, size: g.size, when: 'after alignment', similarity: g.similarityAfter },
  ]);
  const order = r.groups.map((g) => g.name);
  return jsonSafe({
    kind: 'align',
    title: `Alignment (${method}): ${base(r.b)} → ${base(r.a)}`,
    subtitle: `${r.family}, Git Re-Basin ${method}, seed ${r.seed}`,
    facts: [
      { label: 'Method', value: method, definition: 'Ainsworth, Hayase, Srinivasa (ICLR 2023): per permutation group, a linear assignment maximising the summed similarity' },
      { label: 'Sweeps', value: `${r.iterations}${r.converged ? '' : ' (stopped at the limit without converging)'}`, definition: 'passes over all groups in a fresh random order; stops after a pass with no improvement' },
      { label: '‖θ_A − θ_B‖₂ before', value: fmt(r.distanceBefore), definition: 'L2 distance over every tensor a permutation group acts on' },
      { label: '‖θ_A − π(θ_B)‖₂ after', value: fmt(r.distanceAfter) },
      { label: 'Groups', value: String(r.groups.length) },
      { label: 'Time', value: `${r.seconds.toFixed(2)} s` },
      { label: 'Aligned checkpoint', value: r.out },
      { label: 'Permutations', value: r.permutations },
    ],
    charts: [
      {
        id: 'align-similarity',
        title: 'Per-group similarity before and after alignment',
        caption: `Similarity: ${similarityDefinition(r.method)}.`,
        rows,
        spec: chartSpec(rows, {
          mark: { type: 'bar', tooltip: true },
          encoding: {
            y: { field: 'group', type: 'nominal', sort: order, title: 'Permutation group' },
            yOffset: { field: 'when', sort: ['before (identity)', 'after alignment'] },
            x: { field: 'similarity', type: 'quantitative', title: r.method === 'activations' ? 'Mean matched correlation' : 'Mean matched cosine similarity' },
            color: comparisonEncoding('when', ['before (identity)', 'after alignment']),
          },
        }, { height: Math.max(120, 28 * r.groups.length) }),
      },
    ],
    tables: [
      {
        id: 'align-groups',
        title: 'Permutation groups',
        columns: ['group', 'kind', 'size', 'moved', 'similarity before', 'similarity after', 'objective before', 'objective after', 'seconds'],
        rows: r.groups.map((g) => [g.name, g.kind, g.size, g.moved, g.similarityBefore, g.similarityAfter, g.objectiveBefore, g.objectiveAfter, g.seconds]),
      },
    ],
    notes: [`B's units were permuted in place; B computes the same function (a permutation is a symmetry of the network). Convention of the .perm.json: aligned unit i = B's unit perm[i].`],
    report: { ...r } as never,
    complete: true,
  });
}

function base(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}
