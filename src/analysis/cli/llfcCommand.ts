// `ckpt-lens llfc`: layerwise linear feature connectivity between two checkpoints, naive and
// (with --align) after weight matching.
import { UsageError, runSubcommand, stderrLog, wholeFlag } from './cliArgs';
import { PATH_DATA_USAGE, type PathCliArgs, parsePathArgs } from './pathArgs';
import { initBackend } from '../model/backend';
import { DEFAULT_LLFC_SAMPLES, LLFC_CONVENTION, LLFC_DEFINITIONS, type LlfcCurve, type LlfcReport, runLlfc } from '../interpolate/llfc';

export const LLFC_USAGE = `usage: ckpt-lens llfc A B --data PATH [--align] [--seed N] [--alphas 0.25,0.5,0.75] [--json] [options]

  A, B               two checkpoints of one architecture
  --align            also for B weight-matched onto A
  --seed N           weight matching's seed (default 0)
  --alphas LIST      comma-separated α (weight on B) values (default 0.25,0.5,0.75)
${PATH_DATA_USAGE}
  (--limit defaults to ${DEFAULT_LLFC_SAMPLES} samples here)`;

function curveText(label: string, c: LlfcCurve): string[] {
  return [
    `  ${label.padEnd(8)} baseline 1−|cos(f_A,f_B)| ${c.baseline.mean.toExponential(3)} ± ${c.baseline.std.toExponential(2)}`,
    ...c.points.map((p) => `  ${''.padEnd(8)} α ${p.alpha.toFixed(2)}  dist ${p.dist.mean.toExponential(3)} ± ${p.dist.std.toExponential(2)}   coef ${p.coef.mean.toFixed(4)} ± ${p.coef.std.toFixed(4)}`),
  ];
}

function llfcText(r: LlfcReport): string {
  const lines = [
    `model     ${r.description}`,
    `A         ${r.a}`,
    `B         ${r.b}`,
    `data      ${r.data}: ${r.n} samples`,
    `batchnorm ${r.batchNorm.note}`,
    `α         ${LLFC_CONVENTION}`,
    `dist      ${LLFC_DEFINITIONS.dist} (mean ± unbiased std over samples)`,
    `coef      ${LLFC_DEFINITIONS.coef}`,
  ];
  if (r.alignment) lines.push(`weight matching: ${r.alignment.iterations} sweeps, ‖θ_A − θ_B‖ ${r.alignment.distanceBefore.toPrecision(5)} → ${r.alignment.distanceAfter.toPrecision(5)}`);
  for (const l of r.layers) {
    lines.push(`${l.layer} [${l.shape.join(', ')}]`, ...curveText('naive', l.naive));
    if (l.aligned) lines.push(...curveText('aligned', l.aligned));
  }
  lines.push(`time      ${r.seconds.toFixed(2)} s (${r.backend})`);
  return lines.join('\n') + '\n';
}

function parseAlphas(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const a = v.split(',').map(Number);
  if (a.length === 0 || a.some((x) => !Number.isFinite(x) || x < 0 || x > 1)) throw new UsageError('--alphas takes comma-separated numbers from 0 to 1');
  return a;
}

async function llfc(a: PathCliArgs): Promise<void> {
  if (a.positional.length !== 2) throw new UsageError('llfc takes two checkpoints, A and B');
  await initBackend(a.backend, { log: stderrLog });
  const r = await runLlfc({ ...a.data, a: a.positional[0], b: a.positional[1], align: a.switches.has('--align'), alignSeed: wholeFlag(a.values, '--seed', 0), alphas: parseAlphas(a.values['--alphas']) }, { log: stderrLog });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : llfcText(r));
}

export function llfcMain(argv: string[]): Promise<number> {
  return runSubcommand('llfc', LLFC_USAGE, argv, (v) => parsePathArgs(v, ['--seed', '--alphas'], ['--align']), (a) => a.positional.join(', '), llfc);
}
