// `ckpt-lens runs DIR...`: weight norms, distance from the first checkpoint, update sizes and
// cross-run distances over training; --watch keeps reading new checkpoints as they appear.
import type { RunsReport } from '../compare/trainingRuns';
import { runRuns } from '../compare/trainingRuns';
import { RunsWatcher } from '../compare/runsWatcher';
import type { BackendChoice } from '../model/backend';
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { fmtNum, table } from './textTable';
import { type DynamicsOptions, type RunsWithDynamics, addDynamics, checkpointDynamicsLine, dynamicsLines } from '../dynamics/runsDynamics';
import { DynamicsFollower } from '../dynamics/followRuns';
import { LLC_FLAGS, llcFlags } from './llcCommand';

export const RUNS_USAGE = `usage: ckpt-lens runs DIR... [--align auto|on|off] [--arch FILE] [--backend auto|onnxruntime|tensorflow|wasm|cpu]
                      [--data PATH [--llc] [LLC options]] [--watch] [--json]

  DIR           a run folder of checkpoints, or a glob of folders ("runs/seed*"); the first run is
                the reference the others are compared with. Each checkpoint's step comes from a
                global_step/step entry inside it, else its file name (step_0010, checkpoint-500),
                else an epoch entry. Unreadable files are skipped with a warning.
  --align M     compare runs after aligning units (weight matching) when the model is recognised:
                auto (default; up to 512 units per layer), on, off
  --arch FILE   JSON architecture hints
  --backend B   engine for alignment (default auto)
  --watch       keep watching the folders; print lines (or a JSON report) per new checkpoint, with
                its dynamics (and its LLC with --llc, the same hyper-parameters at every step)
  --debounce-ms N  with --watch: quiet time before a new or growing file is read (default 500)
  --data PATH   also the loss and accuracy per checkpoint on this data (BatchNorm in eval mode;
                language models: next-token), and (MLPs) the activation-
                pattern change and kernel distance from the first checkpoint on its first --probe N
                examples (default 64; --probe-data FILE takes them from another file). Without
                it: the conserved quantities and relative weight change only (weights alone)
  --labels FILE, --split S, --loss L, --limit N   as for eval / llc
  --llc         with --data: the local learning coefficient at every checkpoint, with the same
                hyper-parameters (--epsilon, --gamma, --nbeta, --chains, --draws, --burn-in,
                --batch-size, --seed as for ckpt-lens llc)
  --json        print the report as one JSON object; each checkpoint gains balances,
                unitBalanceDrift, relativeChange (and patternChange, kernelDistance, loss,
                accuracy, llc); the report gains "dynamics" with the verdicts`;

interface RunsArgs {
  paths: string[];
  align: 'auto' | 'on' | 'off';
  arch?: string;
  backend: BackendChoice;
  watch: boolean;
  debounceMs?: number;
  json: boolean;
  dynamics: DynamicsOptions;
}

function parseRunsArgs(argv: string[]): RunsArgs {
  const watchFlag = argv.includes('--watch');
  const { positional: pos, values: opt, json, switches } = scanArgs(argv.filter((a) => a !== '--watch'), ['--align', '--arch', '--backend', '--debounce-ms', '--data', '--labels', '--split', '--loss', '--limit', '--probe', '--probe-data', ...LLC_FLAGS], ['--llc']);
  if (pos.length < 1) throw new UsageError('runs takes one or more run folders');
  const align = opt['--align'] ?? 'auto';
  if (align !== 'auto' && align !== 'on' && align !== 'off') throw new UsageError('--align is auto, on or off');
  if (switches.has('--llc') && !opt['--data']) throw new UsageError('--llc needs --data');
  const split = opt['--split'];
  if (split !== undefined && split !== 'train' && split !== 'test') throw new UsageError('--split is train or test');
  const loss = opt['--loss'] ?? 'auto';
  if (loss !== 'auto' && loss !== 'cross_entropy' && loss !== 'mse') throw new UsageError('--loss is auto, cross_entropy or mse');
  const dynamics: DynamicsOptions = {
    data: opt['--data'], labels: opt['--labels'], split, loss, limit: wholeFlag(opt, '--limit', 1), probe: wholeFlag(opt, '--probe', 1), probeData: opt['--probe-data'], archFile: opt['--arch'],
    llc: switches.has('--llc') ? llcFlags(opt) : undefined,
  };
  return { paths: pos, align, arch: opt['--arch'], backend: backendFlag(opt), watch: watchFlag, debounceMs: wholeFlag(opt, '--debounce-ms', 0), json, dynamics };
}

function human(r: RunsReport): string {
  const lines: string[] = [];
  if (r.model) lines.push(`model     ${r.model}${r.aligned ? ' (runs aligned by weight matching)' : ''}`);
  for (const run of r.runs) {
    lines.push(`run       ${run.name}: ${run.checkpoints.length} checkpoints, steps ${run.checkpoints.map((c) => c.step).join(', ')}${run.checkpoints[0] ? ` (from ${run.checkpoints[0].stepSource})` : ''}`);
  }
  for (const w of r.warnings) lines.push(`warning   ${w}`);
  lines.push('', table(
    ['run', 'step', 'layer', '‖W‖', '‖W−W₀‖', '‖W−W_prev‖', 'relative update'],
    [...r.points].sort((a, b) => a.run.localeCompare(b.run) || a.step - b.step).map((p) => [p.run, String(p.step), p.layer, fmtNum(p.norm), fmtNum(p.distFromFirst), fmtNum(p.update), fmtNum(p.relUpdate)]),
  ));
  if (r.cross.length) {
    lines.push('', table(
      ['runs', 'step', 'layer', 'distance', 'cosine', ...(r.aligned ? ['aligned distance', 'aligned cosine'] : [])],
      r.cross.map((c) => [`${c.runA} vs ${c.runB}`, String(c.step), c.layer, fmtNum(c.distance), fmtNum(c.cosine, 6), ...(r.aligned ? [fmtNum(c.alignedDistance), fmtNum(c.alignedCosine, 6)] : [])]),
    ));
  }
  lines.push(...dynamicsLines(r));
  lines.push(`time      ${r.seconds.toFixed(3)} s`);
  return lines.join('\n') + '\n';
}

async function runsCommand(a: RunsArgs): Promise<void> {
  const opts = { paths: a.paths, align: a.align, archFile: a.arch, backend: a.backend };
  if (!a.watch) {
    const r = await runRuns(opts, { log: stderrLog });
    await addDynamics(r, a.dynamics, { log: stderrLog });
    process.stdout.write(a.json ? JSON.stringify(r) + '\n' : human(r));
    return;
  }
  const w = new RunsWatcher({ ...opts, debounceMs: a.debounceMs }, { ctx: { log: stderrLog } });
  let shown = 0;
  const printed = new Set<string>();
  let stopped = false;
  // Dynamics follow the watched run: cheap measures recomputed per report, each checkpoint's
  // LLC sampled once; a report is printed once its dynamics are in.
  const print = (r: RunsWithDynamics): void => {
    if (a.json) process.stdout.write(JSON.stringify(r) + '\n');
    else if (shown === 0) process.stdout.write(human(r));
    else {
      for (const p of r.points.slice(shown)) process.stdout.write(`${p.run}  step ${p.step}  ${p.layer}  ‖W‖ ${fmtNum(p.norm)}  ‖W−W₀‖ ${fmtNum(p.distFromFirst)}  update ${fmtNum(p.update)}\n`);
      for (const run of r.dynamics?.runs ?? []) for (const c of run.checkpoints) if (!printed.has(`${run.run}|${c.file}`)) process.stdout.write(checkpointDynamicsLine(run, c, r.dynamics!) + '\n');
    }
    shown = r.points.length;
    for (const run of r.dynamics?.runs ?? []) for (const c of run.checkpoints) printed.add(`${run.run}|${c.file}`);
  };
  const follower = new DynamicsFollower(a.dynamics, { onReport: print, onError: (e, r) => { stderrLog(`training dynamics: ${e.message}`); print(r); } }, { log: stderrLog, isCancelled: () => stopped });
  w.on('warning', (m: string) => stderrLog(m));
  w.on('error', (e: Error) => stderrLog(e.message));
  w.on('report', (r: RunsReport) => follower.push(r));
  await w.start();
  stderrLog('watching for new checkpoints (Ctrl+C stops)');
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  stopped = true;
  await w.close();
  await follower.idle();
}

export function runsMain(argv: string[]): Promise<number> {
  return runSubcommand('runs', RUNS_USAGE, argv, parseRunsArgs, (a) => a.paths.join(' '), runsCommand);
}
