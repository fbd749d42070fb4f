// `ckpt-lens interpolate` (loss and accuracy along the line A→B, barriers, optionally after
// weight matching) and `ckpt-lens mli` (monotonic linear interpolation from an initialisation).
import { UsageError, runSubcommand, stderrLog, wholeFlag } from './cliArgs';
import { PATH_DATA_USAGE, type PathCliArgs, fmt, numberFlag, parsePathArgs, pct } from './pathArgs';
import { initBackend } from '../model/backend';
import { BARRIER_DEFINITIONS, type Barriers } from '../interpolate/barriers';
import { type InterpolationReport, type PathCurve, runInterpolation } from '../interpolate/linearPath';
import { DEFAULT_MLI_STEPS, DEFAULT_MLI_TOL, type MliReport, runMli } from '../interpolate/mli';

export const INTERPOLATE_USAGE = `usage: ckpt-lens interpolate A B --data PATH [--steps N] [--align] [--seed N] [--no-bn-reset] [--json] [options]

  A, B               two checkpoints of one architecture; the line is θ(α) = (1−α)θ_A + αθ_B
  --steps N          points α = 0 … 1 (default 25)
  --align            also the line from A to B weight-matched onto A (Git Re-Basin)
  --seed N           weight matching's seed (default 0)
${PATH_DATA_USAGE}
  (--json prints {"alphas", "loss", "accuracy", "barrier": {"lossLinear", "lossMean", "error", …},
   "aligned": {…the same…} with --align, …})`;

export const MLI_USAGE = `usage: ckpt-lens mli INIT FINAL --data PATH [--steps N] [--tol X] [--no-bn-reset] [--json] [options]

  INIT, FINAL        the initialisation θ₀ and the trained θ_T of one run
  --steps N          points α = 0 … 1 on θ(α) = (1−α)θ₀ + αθ_T (default ${DEFAULT_MLI_STEPS})
  --tol X            MLI holds when Δ = max_j (L(α_j) − min_{i<j} L(α_i)) ≤ X (default ${DEFAULT_MLI_TOL})
${PATH_DATA_USAGE}
  Lucas et al. evaluate the training loss: consider --split train.`;

function curveLines(label: string, c: PathCurve): string[] {
  const b: Barriers = c.barrier;
  return [
    `${label}`,
    `  ${'α'.padStart(6)}  ${'loss'.padStart(9)}  accuracy`,
    ...c.alphas.map((a, i) => `  ${a.toFixed(3).padStart(6)}  ${fmt(c.loss[i]).padStart(9)}  ${pct(c.accuracy[i]).padStart(8)}`),
    `  loss barrier, linear baseline  ${fmt(b.lossLinear)} nats at α = ${b.argmaxAlpha.lossLinear.toFixed(3)}   ${BARRIER_DEFINITIONS.lossLinear}`,
    `  loss barrier, mean baseline    ${fmt(b.lossMean)} nats at α = ${b.argmaxAlpha.lossMean.toFixed(3)}   ${BARRIER_DEFINITIONS.lossMean}`,
    `  error barrier                  ${pct(b.error)} at α = ${b.argmaxAlpha.error.toFixed(3)}   ${BARRIER_DEFINITIONS.error}`,
    `  error barrier, linear baseline ${pct(b.errorLinear)} at α = ${b.argmaxAlpha.errorLinear.toFixed(3)}`,
  ];
}

function interpolationText(r: InterpolationReport): string {
  const lines = [
    `model     ${r.description}`,
    `line      ${r.convention}`,
    `A         ${r.a}`,
    `B         ${r.b}`,
    `data      ${r.data}: ${r.n} examples per point`,
    `batchnorm ${r.batchNorm.note}`,
    ...curveLines('naive line A → B', r),
  ];
  if (r.aligned) {
    const al = r.aligned.alignment;
    lines.push(`weight matching: ${al.iterations} sweeps, ‖θ_A − θ_B‖ ${al.distanceBefore.toPrecision(5)} → ${al.distanceAfter.toPrecision(5)}`);
    lines.push(...curveLines('line A → π(B), B weight-matched onto A', r.aligned));
  }
  lines.push(`time      ${r.seconds.toFixed(2)} s (${r.backend}, ${r.threads} thread${r.threads > 1 ? 's' : ''})`);
  return lines.join('\n') + '\n';
}

function mliText(r: MliReport): string {
  return [
    `model     ${r.description}`,
    `line      θ(α) = (1−α)·θ₀ + α·θ_T, θ₀ = ${r.init}, θ_T = ${r.final}`,
    `data      ${r.data}: ${r.n} examples per point`,
    `batchnorm ${r.batchNorm.note}`,
    `  ${'α'.padStart(6)}  ${'loss'.padStart(9)}  accuracy`,
    ...r.alphas.map((a, i) => `  ${a.toFixed(3).padStart(6)}  ${fmt(r.loss[i]).padStart(9)}  ${pct(r.accuracy[i]).padStart(8)}`),
    `MLI       ${r.monotonic ? 'holds' : 'violated'} (Δ ${r.delta.toExponential(3)} ${r.monotonic ? '≤' : '>'} tol ${r.tol})   Δ = max_j (L(α_j) − min_{i<j} L(α_i)), peak at α = ${r.deltaAlpha.toFixed(3)}`,
    `max rise  ${fmt(r.maxIncrease)} nats   max_α L(θ(α)) − L(θ₀)`,
    `distance  ‖θ_T − θ₀‖₂ = ${r.distance.toPrecision(6)}, relative ‖θ_T − θ₀‖₂/‖θ₀‖₂ = ${r.relativeDistance.toPrecision(6)} (parameters)`,
    ...r.layers.map((l) => `  ${l.name.padEnd(Math.max(...r.layers.map((x) => x.name.length)))}  ${l.distance.toPrecision(5).padStart(10)}  relative ${l.relativeDistance.toPrecision(5)}`),
    `time      ${r.seconds.toFixed(2)} s (${r.backend}, ${r.threads} thread${r.threads > 1 ? 's' : ''})`,
  ].join('\n') + '\n';
}

async function interpolate(a: PathCliArgs): Promise<void> {
  if (a.positional.length !== 2) throw new UsageError('interpolate takes two checkpoints, A and B');
  await initBackend(a.backend, { log: stderrLog });
  const r = await runInterpolation({
    ...a.data, a: a.positional[0], b: a.positional[1],
    steps: wholeFlag(a.values, '--steps', 2), align: a.switches.has('--align'), alignSeed: wholeFlag(a.values, '--seed', 0),
  }, { log: stderrLog });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : interpolationText(r));
}

async function mli(a: PathCliArgs): Promise<void> {
  if (a.positional.length !== 2) throw new UsageError('mli takes two checkpoints, INIT and FINAL');
  await initBackend(a.backend, { log: stderrLog });
  const r = await runMli({ ...a.data, init: a.positional[0], final: a.positional[1], steps: wholeFlag(a.values, '--steps', 2), tol: numberFlag(a.values, '--tol', 0) }, { log: stderrLog });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : mliText(r));
}

export function interpolateMain(argv: string[]): Promise<number> {
  return runSubcommand('interpolate', INTERPOLATE_USAGE, argv, (v) => parsePathArgs(v, ['--steps', '--seed'], ['--align']), (a) => a.positional.join(', '), interpolate);
}

export function mliMain(argv: string[]): Promise<number> {
  return runSubcommand('mli', MLI_USAGE, argv, (v) => parsePathArgs(v, ['--steps', '--tol']), (a) => a.positional.join(', '), mli);
}
