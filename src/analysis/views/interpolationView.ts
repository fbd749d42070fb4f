// The linear-path report as the UI shows it: barriers as facts (each with its definition), loss
// and accuracy against α (naive dashed, weight-matched solid), the points as a table. Renders
// partial reports too (points still missing are left out; barriers appear when complete).
import { BARRIER_DEFINITIONS, type Barriers } from '../interpolate/barriers';
import type { InterpolationProgress, InterpolationReport } from '../interpolate/linearPath';
import type { AnalysisView, Fact, ViewJson } from '../report/analysisView';
import { type PathMark, type Row, alphaText, nats, pathLineChart, percent } from './viewParts';

function barrierFacts(label: string, b: Barriers): Fact[] {
  return [
    { label: `${label}: loss barrier (linear baseline)`, value: `${nats(b.lossLinear)} at ${alphaText(b.argmaxAlpha.lossLinear)}`, definition: BARRIER_DEFINITIONS.lossLinear },
    { label: `${label}: loss barrier (mean baseline)`, value: `${nats(b.lossMean)} at ${alphaText(b.argmaxAlpha.lossMean)}`, definition: BARRIER_DEFINITIONS.lossMean },
    { label: `${label}: error barrier`, value: `${percent(b.error)} at ${alphaText(b.argmaxAlpha.error)}`, definition: BARRIER_DEFINITIONS.error },
    { label: `${label}: error barrier (linear baseline)`, value: `${percent(b.errorLinear)} at ${alphaText(b.argmaxAlpha.errorLinear)}`, definition: BARRIER_DEFINITIONS.errorLinear },
  ];
}

/** The barrier of each path drawn on its chart: a rule at argmax α and the barrier's value. */
function barrierMarks(report: InterpolationReport | InterpolationProgress, which: 'loss' | 'error'): PathMark[] {
  if (!report.complete) return [];
  const out: PathMark[] = [];
  const add = (path: string, b: Barriers): void => {
    if (which === 'loss') out.push({ path, alpha: b.argmaxAlpha.lossLinear, label: `barrier ${b.lossLinear.toFixed(3)} nats` });
    else out.push({ path, alpha: b.argmaxAlpha.error, label: `error barrier ${(100 * b.error).toFixed(1)} %` });
  };
  add('naive', report.barrier);
  if (report.aligned) add('aligned', report.aligned.barrier);
  return out;
}

export function interpolationView(report: InterpolationReport | InterpolationProgress): AnalysisView {
  const curves: { path: string; loss: (number | null)[]; accuracy: (number | null)[] }[] = [{ path: 'naive', loss: report.loss, accuracy: report.accuracy }];
  if (report.aligned) curves.push({ path: 'aligned', ...report.aligned });
  const rows = (key: 'loss' | 'accuracy'): Row[] =>
    curves.flatMap((c) => report.alphas.flatMap((alpha, i) => (c[key][i] === null ? [] : [{ path: c.path, alpha, value: c[key][i] }])));
  const facts: Fact[] = [];
  const notes: string[] = [];
  if (report.complete) {
    facts.push(
      { label: 'loss at A (α = 0)', value: nats(report.loss[0]), definition: 'mean cross-entropy on the evaluation data' },
      { label: 'loss at B (α = 1)', value: nats(report.loss[report.loss.length - 1]), definition: 'mean cross-entropy on the evaluation data' },
      ...barrierFacts('naive', report.barrier),
    );
    if (report.aligned) {
      const al = report.aligned.alignment;
      facts.push(
        ...barrierFacts('weight-matched', report.aligned.barrier),
        { label: '‖θ_A − θ_B‖ before → after matching', value: `${al.distanceBefore.toPrecision(5)} → ${al.distanceAfter.toPrecision(5)}`, definition: 'L2 distance over the permuted tensors' },
      );
    }
    notes.push(`model: ${report.description}`, `path: ${report.convention}`, report.batchNorm.note, `data: ${report.data}, ${report.n} examples per point`, `${report.backend} backend, ${report.threads} thread(s), ${report.seconds.toFixed(1)} s`);
  }
  const table = report.alphas.map((alpha, i) => [alpha, report.loss[i], report.accuracy[i], ...(report.aligned ? [report.aligned.loss[i], report.aligned.accuracy[i]] : [])]);
  return {
    kind: 'interpolate',
    title: 'Linear interpolation',
    subtitle: `${report.a} → ${report.b}`,
    facts,
    charts: [
      pathLineChart('interpolate-loss', 'Loss along the line', rows('loss'), 'loss (nats)', 'mean cross-entropy at θ(α) = (1−α)θ_A + αθ_B; orange dashed: naive, blue solid: B weight-matched onto A; the dotted rule marks each loss barrier (linear baseline) at its α', undefined, { marks: barrierMarks(report, 'loss') }),
      pathLineChart('interpolate-accuracy', 'Accuracy along the line', rows('accuracy'), 'accuracy', 'accuracy at θ(α) = (1−α)θ_A + αθ_B; orange dashed: naive, blue solid: B weight-matched onto A; the dotted rule marks each error barrier at its α (axis zoomed to the data)', '.1%', { marks: barrierMarks(report, 'error'), zoom: true }),
    ],
    tables: [{ id: 'interpolate-points', title: 'Points', columns: ['α', 'loss', 'accuracy', ...(report.aligned ? ['loss (aligned)', 'accuracy (aligned)'] : [])], rows: table }],
    notes,
    report: report as unknown as ViewJson,
    complete: report.complete,
  };
}
