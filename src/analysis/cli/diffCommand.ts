// `ckpt-lens diff A B`: what changed between two checkpoints, optionally after aligning B to A.
import { runDiff } from '../compare/checkpointDiff';
import { looksLikeGguf, runQuantError } from '../compare/quantError';
import type { BackendChoice } from '../model/backend';
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { fmtNum, table } from './textTable';

export const DIFF_USAGE = `usage: ckpt-lens diff A B [--align] [--arch FILE] [--seed N] [--max-iter N]
                      [--backend auto|onnxruntime|tensorflow|wasm|cpu] [--json]

  A, B          two checkpoints of any supported format (names are matched below each file's
                state-dict prefix). A GGUF file against the safetensors/PyTorch checkpoint it was
                converted from gives the quantization error per tensor instead (llama.cpp names
                mapped to Hugging Face names, Q/K permutation undone; Llama-family and Qwen2/3)
  --align       permute B's hidden units onto A's first (weight matching), so a permutation is not
                mistaken for change; needs a recognised model (MLP, plain CNN, ResNet, GPT-2-style)
  --arch FILE   JSON architecture hints for --align
  --seed N, --max-iter N   weight matching's seed (default 0) and most sweeps (default 100)
  --backend B   engine for --align (default auto)
  --json        print the report as one JSON object`;

interface DiffArgs {
  a: string;
  b: string;
  align: boolean;
  arch?: string;
  seed?: number;
  maxIter?: number;
  backend: BackendChoice;
  json: boolean;
}

function parseDiffArgs(argv: string[]): DiffArgs {
  const align = argv.includes('--align');
  const { positional: pos, values: opt, json } = scanArgs(argv.filter((a) => a !== '--align'), ['--arch', '--seed', '--max-iter', '--backend']);
  if (pos.length !== 2) throw new UsageError('diff takes two checkpoints, A and B');
  return { a: pos[0], b: pos[1], align, arch: opt['--arch'], seed: wholeFlag(opt, '--seed', 0), maxIter: wholeFlag(opt, '--max-iter', 1), backend: backendFlag(opt), json };
}

async function diffCommand(a: DiffArgs): Promise<void> {
  if ((await looksLikeGguf(a.a)) || (await looksLikeGguf(a.b))) {
    if (a.align) throw new UsageError('--align does not apply to a GGUF file against its source (the quantization error)');
    await quantErrorCommand(a);
    return;
  }
  const r = await runDiff({ a: a.a, b: a.b, align: a.align, archFile: a.arch, seed: a.seed, maxIter: a.maxIter, backend: a.backend }, { log: stderrLog });
  if (a.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const s = r.summary;
  const lines = [
    `A         ${r.a} (${r.formatA}, ${s.tensorsA} tensors)`,
    `B         ${r.b} (${r.formatB}, ${s.tensorsB} tensors)`,
    `shared    ${s.shared} (${s.identical} identical), added ${s.added}, removed ${s.removed}, renamed ${s.renamed}, dtype changed ${s.dtypeChanged}, shape changed ${s.shapeChanged}`,
    `overall   ‖b−a‖/‖a‖ ${fmtNum(r.overall.relChange)}, cosine ${fmtNum(r.overall.cosine, 6)}`,
  ];
  if (r.alignment) lines.push(`aligned   ${r.alignment.model}: ‖b−a‖/‖a‖ ${fmtNum(r.alignment.overall.relChange)}, cosine ${fmtNum(r.alignment.overall.cosine, 6)} (${r.alignment.iterations} sweeps)`);
  for (const t of r.renamed) lines.push(`renamed   ${t.from} → ${t.to}  (cosine ${fmtNum(t.metrics.cosine, 6)})`);
  for (const t of r.removed) lines.push(`removed   ${t.name}  ${t.dtype} [${t.shape}]`);
  for (const t of r.added) lines.push(`added     ${t.name}  ${t.dtype} [${t.shape}]`);
  for (const t of r.shapeChanged) lines.push(`shape     ${t.name}  [${t.from}] → [${t.to}]`);
  for (const w of r.warnings) lines.push(`warning   ${w}`);
  const head = ['tensor', 'dtype', 'shape', '‖b−a‖/‖a‖', 'cosine', 'max|b−a|', ...(r.alignment ? ['aligned ‖b−a‖/‖a‖', 'aligned cos'] : [])];
  const rows = r.shared.map((t) => [
    t.name, t.dtypeA === t.dtypeB ? t.dtypeA : `${t.dtypeA} → ${t.dtypeB}`, `[${t.shape}]`, fmtNum(t.metrics.relChange), fmtNum(t.metrics.cosine, 6), fmtNum(t.metrics.maxAbsDiff),
    ...(r.alignment ? [fmtNum(t.aligned?.relChange), fmtNum(t.aligned?.cosine, 6)] : []),
  ]);
  lines.push('', table(head, rows), `time      ${r.seconds.toFixed(3)} s`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** A GGUF file against the checkpoint it was converted from: error per tensor. */
async function quantErrorCommand(a: DiffArgs): Promise<void> {
  const r = await runQuantError(a.a, a.b, { onProgress: undefined });
  if (a.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const lines = [
    `GGUF      ${r.gguf} (${r.architecture})`,
    `source    ${r.source}`,
    `overall   relative RMS error ${fmtNum(r.overall.relRms)}, RMS ${fmtNum(r.overall.rms)}, max |q−s| ${fmtNum(r.overall.maxAbs)} over ${r.overall.values} values`,
  ];
  for (const n of r.unmatchedGguf) lines.push(`unmatched ${n} (GGUF)`);
  for (const n of r.unmatchedSource) lines.push(`unmatched ${n} (source)`);
  for (const n of r.notes) lines.push(`note      ${n}`);
  const rows = r.rows.map((x) => [x.gguf, x.source, x.type, `[${x.shape}]`, fmtNum(x.maxAbs), fmtNum(x.rms), fmtNum(x.relRms), x.unpermuted ? 'yes' : '']);
  lines.push('', table(['GGUF tensor', 'source tensor', 'type', 'shape', 'max|q−s|', 'RMS', 'RMS/RMS(s)', 'Q/K unpermuted'], rows), `time      ${r.seconds.toFixed(3)} s`);
  process.stdout.write(lines.join('\n') + '\n');
}

export function diffMain(argv: string[]): Promise<number> {
  return runSubcommand('diff', DIFF_USAGE, argv, parseDiffArgs, (a) => a.b, diffCommand);
}
