// `ckpt-lens`: the command-line face of src/analysis (same code as the extension's worker).
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { exitWhenFlushed, terminalSafe } from './exit';
import { riskSummary } from '../formats/pickleRisk';
import { CheckpointError, isCancelled } from '../core/errors';
import { openCheckpoint } from '../open';
import type { TensorStats } from '../stats/tensorStats';
import { computeAllStats } from '../stats/statsPool';
import { checkpointTotals } from '../stats/totals';
import { formatBytes, formatCount } from '../core/format';
import { storedType } from '../core/checkpoint';
import { evalMain } from './evalCommand';
import { alignMain } from './alignCommand';
import { interpolateMain, mliMain } from './interpolateCommand';
import { llfcMain } from './llfcCommand';
import { planeMain } from './planeCommand';
import { diffMain } from './diffCommand';
import { runsMain } from './runsCommand';
import { spectraMain } from './spectraCommand';
import { dropMain } from './dropCommand';
import { stitchMain } from './stitchCommand';
import { llcMain, llcSweepMain } from './llcCommand';
import { basinsMain } from './basinsCommand';
import { ckaMain } from './ckaCommand';
import { swapMain } from './swapCommand';
import { histogramsMain } from './histogramsCommand';

const USAGE = `usage: ckpt-lens inspect FILE [--stats] [--histogram] [--threads N] [--json]

  FILE         a local file or folder, an http(s):// URL (read by Range requests, headers only
               unless --stats), hf://org/repo[@revision]/file, or a Hub repo id org/repo
               (HF_TOKEN or huggingface-cli's token file for gated repos, sent to the Hub only;
               HF_ENDPOINT for a mirror; HTTPS_PROXY/HTTP_PROXY/NO_PROXY honoured):
               .safetensors, *.safetensors.index.json, .pt/.pth/.bin/.ckpt (zip or legacy),
               pytorch_model.bin.index.json, .npy, .npz, .gguf (values dequantized),
               or a folder holding a sharded checkpoint
  --stats      compute per-tensor statistics (min, max, mean, std, l2, zeros, nan, inf)
  --histogram  with --stats: include the 64-bin histogram of each tensor
  --threads N  threads for --stats (default: the number of cores)
  --json       print one JSON object instead of a table

       ckpt-lens eval CKPT --data PATH [options]   (see ckpt-lens eval --help)
       ckpt-lens align A B --out OUT.safetensors [options]   (see ckpt-lens align --help)
       ckpt-lens interpolate A B --data PATH [--steps N] [--align] [--no-bn-reset] [--json] [options]
       ckpt-lens mli INIT FINAL --data PATH [--steps N] [--tol X] [--json] [options]
       ckpt-lens llfc A B --data PATH [--align] [--json] [options]
       ckpt-lens plane A B C --data PATH [--grid N] [--json] [options]
                    (loss along lines and planes in weight space; see ckpt-lens <command> --help)
       ckpt-lens diff A B [--align] [--json]     what changed between two checkpoints (see ckpt-lens diff --help)
       ckpt-lens runs DIR... [--watch] [--json]  weights over training runs (see ckpt-lens runs --help)
       ckpt-lens spectra CKPT [--json]           singular values, α, dead/duplicate units (see ckpt-lens spectra --help)
       ckpt-lens stitch A B --data PATH [options]   (see ckpt-lens stitch --help)
       ckpt-lens drop CKPT --data PATH [options]   (see ckpt-lens drop --help)
       ckpt-lens llc CKPT --data PATH [options]    local learning coefficient by SGLD (see ckpt-lens llc --help)
       ckpt-lens llc-sweep CKPT --data PATH [options]   λ̂ over ε × nβ, for calibration
       ckpt-lens basins DIR|FILES... --data PATH [--align] [--threshold T]   barrier matrix and basins (see ckpt-lens basins --help)
       ckpt-lens basins DIR|FILES... --data PATH [--align] [--threshold T]   barrier matrix and basins (see ckpt-lens basins --help)
       ckpt-lens cka A [B] --data PATH [--json]   linear and debiased CKA between layers and runs (see ckpt-lens cka --help)
       ckpt-lens swap CKPT --data PATH [--json]   layer-swap matrix of a residual stack (see ckpt-lens swap --help)
       ckpt-lens histograms DIR --tensor NAME [--json]   a tensor's distribution over a run (see ckpt-lens histograms --help)`;

interface Args {
  command: string;
  file: string;
  stats: boolean;
  histogram: boolean;
  json: boolean;
  threads?: number;
}

function parseArgs(argv: string[]): Args {
  let threads: number | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--threads') {
      threads = Number(argv[++i]);
      if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new UsageError('--threads takes a whole number from 1 to 256');
    } else rest.push(argv[i]);
  }
  const flags = new Set(rest.filter((a) => a.startsWith('--')));
  const pos = rest.filter((a) => !a.startsWith('--'));
  for (const f of flags) if (!['--stats', '--histogram', '--json', '--help'].includes(f)) throw new UsageError(`unknown option ${f}`);
  if (flags.has('--help')) throw new UsageError('');
  if (pos[0] !== 'inspect') throw new UsageError(pos[0] ? `unknown command ${pos[0]}` : 'missing command');
  if (pos.length !== 2) throw new UsageError('inspect takes exactly one FILE');
  return { command: pos[0], file: pos[1], stats: flags.has('--stats'), histogram: flags.has('--histogram'), json: flags.has('--json'), threads };
}

class UsageError extends Error {}

async function inspect(a: Args): Promise<void> {
  // Listing is allocation-heavy and short-lived: V8 sized for memory, not speed, keeps a
  // million-tensor file under 1 GB (1.35 GB otherwise, mostly heap it had not collected yet).
  setFlagsFromString('--optimize-for-size');
  const ckpt = await openCheckpoint(a.file);
  try {
    const stats: (TensorStats | undefined)[] = a.stats ? await computeAllStats(ckpt, { threads: a.threads }) : [];
    const danger = ckpt.risk?.verdict === 'dangerous' ? riskSummary(ckpt.risk) : undefined;
    if (danger && a.json) process.stderr.write(`ckpt-lens: warning: ${terminalSafe(danger)}\n`);
    // Remote files: say what reading them cost.
    const fetched = (ckpt as { bytesFetched?: () => number }).bytesFetched;
    if (fetched) process.stderr.write(`fetched ${formatBytes(fetched())} from the server\n`);
    if (a.json) {
      const out = {
        format: ckpt.format,
        metadata: ckpt.metadata,
        values: ckpt.values,
        stateDictPrefix: ckpt.stateDictPrefix,
        warnings: ckpt.warnings,
        ...(ckpt.risk ? { risk: ckpt.risk } : {}),
        ...(ckpt.sourceFiles ? { sourceFiles: ckpt.sourceFiles.map((f) => ({ name: f.name, bytes: f.text.length, ...(f.truncated ? { truncated: true } : {}) })) } : {}),
        totals: checkpointTotals(ckpt),
      };
      const tensorJson = (i: number): string => {
        const t = ckpt.tensors[i];
        const s = stats[i];
        return JSON.stringify({
          name: t.name,
          dtype: storedType(t),
          shape: t.shape,
          ...(t.sharesStorageWith ? { sharesStorageWith: t.sharesStorageWith } : {}),
          ...(t.quantization ? { quantization: t.quantization } : {}),
          ...(t.sparse ? { sparse: t.sparse } : {}),
          ...(t.note ? { note: t.note } : {}),
          ...(s ? { stats: a.histogram ? s : { ...s, histogram: undefined } } : {}),
        });
      };
      // The tensors are written in batches, not as one string: a million-tensor report stays small in memory.
      const head = JSON.stringify(out);
      await writeBatches(head.slice(0, -1) + ',"tensors":[', ckpt.tensors.length, (i) => (i ? ',' : '') + tensorJson(i), ']}\n');
      return;
    }
    const totals = checkpointTotals(ckpt);
    const lines = [`${ckpt.path}  (${ckpt.format})  ${ckpt.tensors.length} tensors, ${formatCount(totals.params)} params, ${formatBytes(totals.bytes)}`];
    // GGUF: family, quantization mix, tokenizer and the dims note head the listing.
    if (ckpt.format === 'gguf') for (const [k, v] of Object.entries(ckpt.values)) lines.push(`${k}: ${String(v)}`);
    const risk = ckpt.risk && riskSummary(ckpt.risk);
    if (risk) lines.push(`warning: ${risk}`);
    for (const w of ckpt.warnings) lines.push(`warning: ${w}`);
    const cellsOf = (i: number): string[] => {
      const t = ckpt.tensors[i];
      const s = stats[i];
      const cells = [t.name, storedType(t), `[${t.shape.join(', ')}]`, formatCount(t.numel)];
      if (s) cells.push(...[s.mean, s.std, s.min, s.max].map(fmt), `${((100 * s.zeros) / Math.max(1, s.count)).toFixed(1)}%`, s.nan || s.inf ? `nan ${s.nan} inf ${s.inf}` : '');
      else if (a.stats) cells.push('-', '-', '-', '-', '-', 'values not decoded');
      return cells;
    };
    const head = ['name', 'dtype', 'shape', 'numel', ...(a.stats ? ['mean', 'std', 'min', 'max', 'zeros', ''] : [])];
    // Two passes over the rows (widths, then lines written in batches) keep a million-row listing small in memory.
    const widths = head.map((h) => h.length);
    for (let i = 0; i < ckpt.tensors.length; i++) cellsOf(i).forEach((c, k) => (widths[k] = Math.max(widths[k], c.length)));
    const line = (r: string[]): string => r.map((c, k) => c.padEnd(widths[k])).join('  ').trimEnd();
    lines.push(line(head));
    await writeBatches(terminalSafe(lines.join('\n')) + '\n', ckpt.tensors.length, (i) => terminalSafe(line(cellsOf(i))) + '\n', '');
  } finally {
    await ckpt.close();
  }
}

/** Writes `first`, then item(0…n-1) in batches of about 1 MB (waiting for the pipe to drain), then `last`. */
async function writeBatches(first: string, n: number, item: (i: number) => string, last: string): Promise<void> {
  // events.once rejects if the stream errors (a closed pipe) instead of waiting for ever.
  const write = async (text: string): Promise<void> => {
    if (!process.stdout.write(text)) await once(process.stdout, 'drain');
  };
  let batch = first;
  for (let i = 0; i < n; i++) {
    batch += item(i);
    if (batch.length >= 1 << 20) {
      await write(batch);
      batch = '';
    }
  }
  await write(batch + last);
}

function fmt(v: number | null): string {
  return v === null ? '-' : Number(v.toPrecision(5)).toString();
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'eval') return evalMain(argv.slice(1));
  if (argv[0] === 'align') return alignMain(argv.slice(1));
  if (argv[0] === 'interpolate') return interpolateMain(argv.slice(1));
  if (argv[0] === 'mli') return mliMain(argv.slice(1));
  if (argv[0] === 'llfc') return llfcMain(argv.slice(1));
  if (argv[0] === 'plane') return planeMain(argv.slice(1));
  if (argv[0] === 'diff') return diffMain(argv.slice(1));
  if (argv[0] === 'runs') return runsMain(argv.slice(1));
  if (argv[0] === 'spectra') return spectraMain(argv.slice(1));
  if (argv[0] === 'stitch') return stitchMain(argv.slice(1));
  if (argv[0] === 'drop') return dropMain(argv.slice(1));
  if (argv[0] === 'llc') return llcMain(argv.slice(1));
  if (argv[0] === 'llc-sweep') return llcSweepMain(argv.slice(1));
  if (argv[0] === 'basins') return basinsMain(argv.slice(1));
  if (argv[0] === 'cka') return ckaMain(argv.slice(1));
  if (argv[0] === 'swap') return swapMain(argv.slice(1));
  if (argv[0] === 'histograms') return histogramsMain(argv.slice(1));
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    const msg = (e as Error).message;
    process.stderr.write((msg ? `ckpt-lens: ${msg}\n` : '') + USAGE + '\n');
    return msg ? 2 : 0;
  }
  try {
    await inspect(args);
    return 0;
  } catch (e) {
    if (isCancelled(e)) return 130;
    // One line that names the file and the problem.
    const msg = e instanceof CheckpointError ? e.message : `${args.file}: ${(e as Error).message}`;
    process.stderr.write(`ckpt-lens: ${terminalSafe(msg.split('\n')[0])}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(exitWhenFlushed);
}
