// `ckpt-lens plane`: loss and accuracy on a grid in the plane through three checkpoints.
import { UsageError, runSubcommand, stderrLog, wholeFlag } from './cliArgs';
import { PATH_DATA_USAGE, type PathCliArgs, fmt, numberFlag, parsePathArgs, pct } from './pathArgs';
import { initBackend } from '../model/backend';
import { DEFAULT_GRID, DEFAULT_MARGIN, PLANE_DEFINITIONS, type PlaneReport, runPlane } from '../interpolate/lossPlane';

export const PLANE_USAGE = `usage: ckpt-lens plane A B C --data PATH [--grid N] [--margin X] [--json] [options]

  A, B, C            three checkpoints of one architecture, spanning a plane in weight space
  --grid N           grid points per axis (default ${DEFAULT_GRID})
  --margin X         widen the three points' box by X of its size on each side (default ${DEFAULT_MARGIN})
${PATH_DATA_USAGE}`;

function planeText(r: PlaneReport): string {
  const lines = [
    `model     ${r.description}`,
    `data      ${r.data}: ${r.n} examples per point`,
    `batchnorm ${r.batchNorm.note}`,
    `basis     ${PLANE_DEFINITIONS.basis}`,
    `points    θ(x, y) = θ_A + x·e₁ + y·e₂`,
    ...r.points.map((p) => `  ${p.name} (${p.x.toPrecision(5)}, ${p.y.toPrecision(5)})  loss ${fmt(p.loss)}  accuracy ${pct(p.accuracy)}  ${p.path}`),
    `loss (mean cross-entropy, nats); rows y from ${r.y[r.y.length - 1].toPrecision(4)} down to ${r.y[0].toPrecision(4)}, columns x from ${r.x[0].toPrecision(4)} to ${r.x[r.x.length - 1].toPrecision(4)}`,
    ...r.loss.map((_, j) => r.loss[r.loss.length - 1 - j].map((v) => v.toFixed(3).padStart(8)).join('')),
    `time      ${r.seconds.toFixed(2)} s (${r.backend}, ${r.threads} thread${r.threads > 1 ? 's' : ''})`,
  ];
  return lines.join('\n') + '\n';
}

async function plane(a: PathCliArgs): Promise<void> {
  if (a.positional.length !== 3) throw new UsageError('plane takes three checkpoints, A, B and C');
  await initBackend(a.backend, { log: stderrLog });
  const r = await runPlane({ ...a.data, a: a.positional[0], b: a.positional[1], c: a.positional[2], grid: wholeFlag(a.values, '--grid', 2), margin: numberFlag(a.values, '--margin', 0) }, { log: stderrLog });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : planeText(r));
}

export function planeMain(argv: string[]): Promise<number> {
  return runSubcommand('plane', PLANE_USAGE, argv, (v) => parsePathArgs(v, ['--grid', '--margin']), (a) => a.positional.join(', '), plane);
}
