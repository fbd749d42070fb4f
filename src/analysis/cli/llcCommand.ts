// `ckpt-lens llc CKPT --data PATH`: the local learning coefficient by SGLD (devinterp's estimator),
// and `ckpt-lens llc-sweep`: λ̂ over a grid of step sizes and inverse temperatures.
import { type LlcHyperparameters, LLC_DEFAULTS, type LlcReport, estimateLlc } from '../dynamics/llc';
import { type SweepReport, runLlcSweep } from '../dynamics/llcSweep';
import type { LossChoice } from '../dynamics/taskData';
import { UsageError, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { fmtNum, table } from './textTable';

const COMMON = `  --data PATH     the data the loss is taken over (IDX, MNIST folder, .npz/safetensors with x and y,
                  token ids: .npz x [N, T], nanoGPT .bin, text with a tokenizer.json); a float y with
                  non-integral values (or several columns) is a regression target
  --labels FILE   labels for an inputs-only file
  --split S       train or test (folders and x_train/x_test files; default test)
  --loss L        auto (default), cross_entropy or mse
  --limit N       use the first N examples only
  --epsilon E     SGLD step size ε (devinterp's lr; default ${LLC_DEFAULTS.epsilon})
  --gamma G       localisation strength γ (default ${LLC_DEFAULTS.gamma}, devinterp's; 1–100 is usual)
  --nbeta B       inverse temperature nβ (default: batch/log(batch), devinterp's default_nbeta)
  --chains C      chains, run in parallel threads (default ${LLC_DEFAULTS.chains})
  --draws D       draws per chain (default ${LLC_DEFAULTS.draws})
  --burn-in N     SGLD steps before the first draw (default ${LLC_DEFAULTS.burnIn})
  --batch-size M  minibatch size (default ${LLC_DEFAULTS.batchSize})
  --seed S        seed of every chain's generator (default ${LLC_DEFAULTS.seed})
  --threads N     worker threads (default: one per core)
  --arch FILE     JSON architecture hints`;

export const LLC_USAGE = `usage: ckpt-lens llc CKPT --data PATH [--epsilon E] [--gamma G] [--nbeta B] [--chains C] [--draws D]
                     [--burn-in N] [--batch-size M] [--seed S] [--loss L] [--json]

  The local learning coefficient λ̂ = nβ · (mean SGLD loss − L(w*)) (Lau et al. 2023; devinterp's
  estimate_learning_coeff_with_summary). Any recognised model: MLPs, CNNs, ResNets (BatchNorm on
  batch statistics, as devinterp samples in train mode), ViTs, and language models (GPT-2, Llama,
  GPT-NeoX, ...; next-token cross-entropy over token data without labels).
${COMMON}
  --json          print the report as one JSON object`;

export const LLC_SWEEP_USAGE = `usage: ckpt-lens llc-sweep CKPT --data PATH [--epsilons E1,E2,...] [--nbetas B1,B2,...] [options] [--json]

  λ̂ over a grid of ε × nβ (default ε 1e-5…1e-1, nβ ¼, 1, 4 × default) at fixed γ, chains (default 4),
  draws (200) and burn-in (200); marks cells whose chains diverged or have not settled.
  --epsilons LIST comma-separated step sizes
  --nbetas LIST   comma-separated inverse temperatures
${COMMON}
  --json          print the report as one JSON object`;

/** The hyper-parameter flags (shared with `runs --llc`). */
export const LLC_FLAGS = ['--epsilon', '--gamma', '--nbeta', '--chains', '--draws', '--burn-in', '--batch-size', '--seed'];
const VALUED = ['--data', '--labels', '--split', '--loss', '--limit', ...LLC_FLAGS, '--threads', '--arch'];

interface LlcArgs {
  checkpoint: string;
  data: string;
  labels?: string;
  split?: 'train' | 'test';
  loss?: LossChoice;
  limit?: number;
  hyperparameters: Partial<LlcHyperparameters>;
  threads?: number;
  arch?: string;
  json: boolean;
  epsilons?: number[];
  nbetas?: number[];
}

function positiveFlag(values: Record<string, string>, flag: string, allowZero = false): number | undefined {
  if (values[flag] === undefined) return undefined;
  const v = Number(values[flag]);
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new UsageError(`${flag} takes a number ${allowZero ? '≥' : '>'} 0`);
  return v;
}

function listFlag(values: Record<string, string>, flag: string): number[] | undefined {
  if (values[flag] === undefined) return undefined;
  const out = values[flag].split(',').map(Number);
  if (!out.length || out.some((v) => !Number.isFinite(v) || v <= 0)) throw new UsageError(`${flag} takes comma-separated numbers > 0`);
  return out;
}

/** The hyper-parameters given by flags (absent ones left out, so defaults apply). */
export function llcFlags(v: Record<string, string>): Partial<LlcHyperparameters> {
  const seed = v['--seed'] === undefined ? undefined : Number(v['--seed']);
  if (seed !== undefined && !(Number.isSafeInteger(seed) && seed >= 0)) throw new UsageError('--seed takes a whole number ≥ 0');
  const h: Partial<LlcHyperparameters> = {
    epsilon: positiveFlag(v, '--epsilon'),
    gamma: positiveFlag(v, '--gamma', true),
    nbeta: positiveFlag(v, '--nbeta'),
    chains: wholeFlag(v, '--chains', 1),
    draws: wholeFlag(v, '--draws', 2),
    burnIn: wholeFlag(v, '--burn-in', 0),
    batchSize: wholeFlag(v, '--batch-size', 1),
    seed,
  };
  for (const k of Object.keys(h) as (keyof LlcHyperparameters)[]) if (h[k] === undefined) delete h[k];
  return h;
}

function parse(argv: string[], sweep: boolean): LlcArgs {
  const { positional: pos, values: v, json } = scanArgs(argv, sweep ? [...VALUED, '--epsilons', '--nbetas'] : VALUED);
  if (pos.length !== 1) throw new UsageError(`${sweep ? 'llc-sweep' : 'llc'} takes exactly one CKPT`);
  if (!v['--data']) throw new UsageError('--data is required');
  const loss = v['--loss'] ?? 'auto';
  if (!['auto', 'cross_entropy', 'mse'].includes(loss)) throw new UsageError('--loss is auto, cross_entropy or mse');
  const split = v['--split'];
  if (split !== undefined && split !== 'train' && split !== 'test') throw new UsageError('--split is train or test');
  const h = llcFlags(v);
  return {
    checkpoint: pos[0], data: v['--data'], labels: v['--labels'], split, loss: loss as LossChoice, limit: wholeFlag(v, '--limit', 1),
    hyperparameters: h, threads: wholeFlag(v, '--threads', 1), arch: v['--arch'], json,
    epsilons: sweep ? listFlag(v, '--epsilons') : undefined, nbetas: sweep ? listFlag(v, '--nbetas') : undefined,
  };
}

function progress(json: boolean): (p: { chain: number; draw: number; draws: number; done: number; chains: number }) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (json || now - last < 1000) return;
    last = now;
    stderrLog(`chain ${p.chain + 1}: draw ${p.draw}/${p.draws} (${p.done}/${p.chains} chains done)`);
  };
}

function humanLlc(r: LlcReport): string {
  const h = r.hyperparameters;
  const lines = [
    `checkpoint ${r.checkpoint}`,
    `data       ${r.data} (${r.n} ${r.nextToken ? 'sequences' : 'examples'}, ${r.loss === 'mse' ? 'mean squared error' : r.nextToken ? 'next-token cross-entropy' : 'cross-entropy'}), ${r.parameters} parameters`,
    `settings   ε ${h.epsilon}  γ ${h.gamma}  nβ ${fmtNum(h.nbeta)}  chains ${h.chains}  draws ${h.draws}  burn-in ${h.burnIn}  batch ${h.batchSize}  seed ${h.seed}`,
    `L(w*)      ${fmtNum(r.lossAtCheckpoint)}`,
    `λ̂          ${fmtNum(r.llc.mean)} ± ${fmtNum(r.llc.std)} (std over chains)`,
    '',
    table(['chain', 'λ̂', 'mean loss', 'below L(w*)', 'MALA', 'settled', ''], r.chains.map((c) => [String(c.chain), c.llc === null ? 'diverged' : fmtNum(c.llc), fmtNum(c.meanLoss), `${(100 * c.belowInit).toFixed(1)}%`, fmtNum(c.mala), c.stationary ? 'yes' : 'no', c.diverged ?? ''])),
  ];
  for (const w of r.warnings) lines.push(`warning    ${w}`);
  lines.push(`time       ${r.seconds.toFixed(2)} s on ${r.threads} threads`, `engine     ${r.engine.note}`);
  return lines.join('\n') + '\n';
}

function humanSweep(r: SweepReport): string {
  const lines = [`checkpoint ${r.checkpoint}`, `data       ${r.data}`, `settings   γ ${r.hyperparameters.gamma}  chains ${r.hyperparameters.chains}  draws ${r.hyperparameters.draws}  burn-in ${r.hyperparameters.burnIn}  batch ${r.hyperparameters.batchSize}  seed ${r.hyperparameters.seed}`, ''];
  lines.push(table(['ε', 'nβ', 'λ̂', 'std', 'λ̂/nβ', 'MALA', 'settled', 'diverged'], r.cells.map((c) => [String(c.epsilon), fmtNum(c.nbeta), fmtNum(c.llc), fmtNum(c.std), fmtNum(c.llcOverNbeta), fmtNum(c.malaAcceptance), c.stationary ? 'yes' : 'no', String(c.diverged)])));
  lines.push(r.suggestion ? `suggested  ε ${r.suggestion.epsilon}, nβ ${fmtNum(r.suggestion.nbeta)}` : 'suggested  none: no cell is settled with λ̂ > 0 and no divergence');
  for (const w of r.warnings ?? []) lines.push(`warning    ${w}`);
  lines.push(`time       ${r.seconds.toFixed(2)} s`);
  return lines.join('\n') + '\n';
}

async function llcCommand(a: LlcArgs): Promise<void> {
  const r = await estimateLlc({ checkpoint: a.checkpoint, data: a.data, labels: a.labels, split: a.split, loss: a.loss, limit: a.limit, hyperparameters: a.hyperparameters, threads: a.threads, archFile: a.arch }, { log: a.json ? undefined : stderrLog, onProgress: progress(a.json) });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : humanLlc(r));
}

async function sweepCommand(a: LlcArgs): Promise<void> {
  const r = await runLlcSweep(
    { checkpoint: a.checkpoint, data: a.data, labels: a.labels, split: a.split, loss: a.loss, limit: a.limit, hyperparameters: a.hyperparameters, threads: a.threads, archFile: a.arch, epsilons: a.epsilons, nbetas: a.nbetas },
    { onCell: (done, total, c) => !a.json && stderrLog(`cell ${done}/${total}: ε ${c.epsilon}, nβ ${fmtNum(c.nbeta)} → λ̂ ${fmtNum(c.llc)}`) },
  );
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : humanSweep(r));
}

export function llcMain(argv: string[]): Promise<number> {
  return runSubcommand('llc', LLC_USAGE, argv, (x) => parse(x, false), (a) => a.checkpoint, llcCommand);
}

export function llcSweepMain(argv: string[]): Promise<number> {
  return runSubcommand('llc-sweep', LLC_SWEEP_USAGE, argv, (x) => parse(x, true), (a) => a.checkpoint, sweepCommand);
}
