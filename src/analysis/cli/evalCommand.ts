// `ckpt-lens eval`: recognise the network a checkpoint holds, run it on a dataset with tfjs, and
// report mean cross-entropy and accuracy.
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { type Split, loadDataset } from '../data/dataset';
import { type BackendChoice, initBackend } from '../model/backend';
import { evaluate } from '../model/evaluate';
import { openModel } from '../model/openModel';

export const EVAL_USAGE = `usage: ckpt-lens eval CKPT --data PATH [--labels PATH] [--split test|train] [--arch FILE]
                      [--backend auto|tensorflow|wasm|cpu] [--batch-size N] [--limit N] [--json]

  CKPT          a checkpoint holding an MLP, a plain CNN, a torchvision ResNet or a GPT-2-style decoder
  --data PATH   IDX images (.gz or not), .npy inputs, an .npz/safetensors with x and y, or a folder
                in the MNIST layout (train-/t10k-images-idx3-ubyte, …-labels-idx1-ubyte)
  --labels PATH labels for an inputs-only --data (IDX or .npy)
  --split S     test (default) or train, for an MNIST folder or a file with x_train/x_test
  --arch FILE   JSON architecture hints (activation, input_shape, n_head, normalize, …); a sidecar
                CKPT.arch.json is read automatically
  --backend B   tfjs backend (default auto: tensorflow if @tensorflow/tfjs-node loads, else wasm, else cpu)
  --batch-size N  examples per batch (default 256; fewer for language models with large vocabularies)
  --limit N     evaluate only the first N examples
  --json        print {"loss", "accuracy", "n", "backend", "seconds"}`;

interface EvalArgs {
  checkpoint: string;
  data: string;
  labels?: string;
  split?: Split;
  arch?: string;
  backend: BackendChoice;
  batchSize?: number;
  limit?: number;
  json: boolean;
}

function parseEvalArgs(argv: string[]): EvalArgs {
  const { positional: pos, values: opt, json } = scanArgs(argv, ['--data', '--labels', '--split', '--arch', '--backend', '--batch-size', '--limit']);
  if (pos.length !== 1) throw new UsageError('eval takes exactly one CKPT');
  if (!opt['--data']) throw new UsageError('eval needs --data PATH');
  const split = opt['--split'];
  if (split !== undefined && split !== 'test' && split !== 'train') throw new UsageError('--split is test or train');
  const backend = backendFlag(opt);
  const whole = (flag: string, min: number): number | undefined => wholeFlag(opt, flag, min);
  return {
    checkpoint: pos[0],
    data: opt['--data'],
    labels: opt['--labels'],
    split: split as Split | undefined,
    arch: opt['--arch'],
    backend,
    batchSize: whole('--batch-size', 1),
    limit: whole('--limit', 1),
    json,
  };
}

async function runEval(a: EvalArgs): Promise<void> {
  const backend = await initBackend(a.backend, { log: stderrLog });
  const data = await loadDataset(a.data, { labels: a.labels, split: a.split });
  const { graph, arch, model } = await openModel(a.checkpoint, { archFile: a.arch, inputHint: data.x.shape.slice(1) });
  try {
    const r = await evaluate(model, data, { batchSize: a.batchSize, count: a.limit });
    if (a.json) {
      process.stdout.write(JSON.stringify({ loss: r.loss, accuracy: r.accuracy, n: r.n, backend: r.backend, seconds: r.seconds }) + '\n');
      return;
    }
    const lines = [
      `model     ${graph.description}`,
      ...graph.assumptions.map((s) => `assumed   ${s}`),
      ...(arch.files.length ? [`arch      ${arch.files.join(', ')}`] : []),
      `data      ${data.name}: ${data.n} examples of [${data.x.shape.slice(1)}] ${data.x.dtype}`,
      `backend   ${backend.name} (tfjs ${backend.version})`,
      `loss      ${r.loss.toFixed(5)}  (mean cross-entropy over ${r.predictions} predictions)`,
      `accuracy  ${(100 * r.accuracy).toFixed(2)}%`,
      `n         ${r.n}`,
      `time      ${r.seconds.toFixed(3)} s (${Math.round(r.n / r.seconds)} examples/s)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    model.dispose();
  }
}

export function evalMain(argv: string[]): Promise<number> {
  return runSubcommand('eval', EVAL_USAGE, argv, parseEvalArgs, (a) => a.checkpoint, runEval);
}
