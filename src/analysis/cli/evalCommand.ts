// `ckpt-lens eval`: recognise the network a checkpoint holds, run it on a dataset with tfjs, and
// report mean cross-entropy and accuracy.
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { type Split, loadDataset } from '../data/dataset';
import { formatEngine } from '../core/format';
import { type BackendChoice, initBackend } from '../model/backend';
import { evaluate } from '../model/evaluate';
import { openModel } from '../model/openModel';

export const EVAL_USAGE = `usage: ckpt-lens eval CKPT --data PATH [--labels PATH] [--split test|train] [--arch FILE]
                      [--backend auto|onnxruntime|tensorflow|wasm|cpu] [--batch-size N] [--limit N] [--json]
                      [--block-size N] [--tokenizer tokenizer.json]

  CKPT          a checkpoint holding an MLP, a plain CNN, a torchvision ResNet, a GPT-2-style,
                Llama-family, GPT-NeoX or TransformerLens decoder, a BERT encoder or a ViT
                (a config.json beside it is read)
  --data PATH   IDX images (.gz or not), .npy inputs, an .npz/safetensors with x and y (or input_ids
                [, attention_mask, token_type_ids, labels]), a folder in the MNIST layout
                (train-/t10k-images-idx3-ubyte, …-labels-idx1-ubyte), a nanoGPT uint16 .bin, or
                text (.txt lines, .jsonl "text" fields)
  --block-size N  tokens per example for .bin and text data (default 128)
  --tokenizer F   tokenizer.json for text data (default: tokenizer.json beside the text)
  --labels PATH labels for an inputs-only --data (IDX or .npy)
  --split S     test (default) or train, for an MNIST folder or a file with x_train/x_test
  --arch FILE   JSON architecture hints (activation, input_shape, n_head, normalize, …); a sidecar
                CKPT.arch.json is read automatically
  --backend B   engine (default auto: onnxruntime for forward passes if onnxruntime-node loads; tfjs beside it: tensorflow if @tensorflow/tfjs-node loads, else wasm, else cpu)
  --batch-size N  examples per batch (default 256; fewer for language models with large vocabularies)
  --limit N     evaluate only the first N examples
  --json        print {"loss", "accuracy", "n", "backend", "seconds"}

Language models are scored by mean next-token cross-entropy over all B·(T−1) predicted positions
(Hugging Face's labels=input_ids) and next-token top-1 accuracy.`;

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
  blockSize?: number;
  tokenizer?: string;
}

function parseEvalArgs(argv: string[]): EvalArgs {
  const { positional: pos, values: opt, json } = scanArgs(argv, ['--data', '--labels', '--split', '--arch', '--backend', '--batch-size', '--limit', '--block-size', '--tokenizer']);
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
    blockSize: whole('--block-size', 2),
    tokenizer: opt['--tokenizer'],
  };
}

async function runEval(a: EvalArgs): Promise<void> {
  const backend = await initBackend(a.backend, { log: stderrLog });
  const data = await loadDataset(a.data, { labels: a.labels, split: a.split, blockSize: a.blockSize, tokenizer: a.tokenizer });
  const { graph, arch, model } = await openModel(a.checkpoint, { archFile: a.arch, inputHint: data.x.shape.slice(1) });
  try {
    const r = await evaluate(model, data, { batchSize: a.batchSize, count: a.limit });
    if (a.json) {
      process.stdout.write(JSON.stringify({ loss: r.loss, accuracy: r.accuracy, n: r.n, backend: r.backend, ...(r.threads !== undefined ? { threads: r.threads } : {}), seconds: r.seconds }) + '\n');
      return;
    }
    const lines = [
      `model     ${graph.description}`,
      ...graph.assumptions.map((s) => `assumed   ${s}`),
      ...(arch.files.length ? [`arch      ${arch.files.join(', ')}`] : []),
      `data      ${data.name}: ${data.n} examples of [${data.x.shape.slice(1)}] ${data.x.dtype}`,
      `backend   ${formatEngine(r.backend, r.threads)} (tfjs ${backend.version})`,
      `loss      ${r.loss.toFixed(5)}  (mean ${r.predictions > r.n ? 'next-token ' : ''}cross-entropy over ${r.predictions} predictions)`,
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
