// The architecture file: what a state dict cannot tell (activation, input shape, pooling,
// head count, input normalisation), given as a small JSON object. Read from --arch FILE or from
// a sidecar `<checkpoint>.arch.json`; a Hugging Face `config.json` beside the checkpoint and a
// nanoGPT `model_args` entry in the checkpoint fill the same fields for transformers.
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Value } from '../core/checkpoint';
import { CheckpointError } from '../core/errors';
import { ACTIVATIONS, type ActivationFn, FAMILIES, type Family } from './ir';

export interface ArchSpec {
  /** Use only this family's recogniser. */
  family?: Family;
  /** Hidden activation (MLP, CNN, GPT-2 MLP). */
  activation?: ActivationFn;
  /** Per-example input shape in PyTorch layout: [F], [C, H, W] or [T]. */
  inputShape?: number[];
  normalize?: { mean: number[]; std: number[] };
  /** GPT-2: attention heads. */
  nHead?: number;
  layerNormEps?: number;
  batchNormEps?: number;
  /** CNN: padding of every conv ('same' is kernel // 2 on each side). */
  convPadding?: 'same' | 'valid' | number;
  /** CNN: module names of the convs followed by a pooling layer. */
  poolAfter?: string[];
  /** CNN: the pooling layer used by poolAfter (default max, kernel 2, stride = kernel). */
  pool?: { kind: 'max' | 'avg'; kernel: number; stride: number };
  /** CNN: an nn.AdaptiveAvgPool2d before the classifier. */
  adaptivePool?: [number, number];
  /** ResNet: stride of each layerN's first block (torchvision: [1, 2, 2, 2]). */
  strides?: number[];
  /** ResNet: 'imagenet' (7×7/2 conv + 3×3/2 max-pool) or 'small' (3×3/1 conv, no max-pool). */
  stem?: 'imagenet' | 'small';
  /** A Hugging Face config.json beside the checkpoint, as read (the transformer recognisers' source). */
  config?: Record<string, unknown>;
}

/** Where each field came from, for messages. */
export interface ArchSources {
  spec: ArchSpec;
  files: string[];
}

const ACTIVATION_ALIASES: Record<string, ActivationFn> = {
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  swish: 'silu',
  linear: 'identity',
  none: 'identity',
};

export function parseActivation(s: unknown): ActivationFn | undefined {
  if (typeof s !== 'string') return undefined;
  const k = s.toLowerCase();
  if ((ACTIVATIONS as readonly string[]).includes(k)) return k as ActivationFn;
  return ACTIVATION_ALIASES[k];
}

const KEYS = ['family', 'activation', 'input_shape', 'normalize', 'n_head', 'layer_norm_eps', 'batch_norm_eps', 'conv_padding', 'pool_after', 'pool', 'adaptive_pool', 'strides', 'stem'];

/** Validates an architecture object (snake_case keys, as in the JSON file). */
export function parseArchSpec(obj: unknown, file: string): ArchSpec {
  const fail = (what: string): never => {
    throw new CheckpointError(file, `architecture file: ${what}`);
  };
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) fail('expected a JSON object');
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) fail(`unknown key "${k}" (known: ${KEYS.join(', ')})`);
  const posInt = (v: unknown, key: string): number => {
    if (!Number.isInteger(v) || (v as number) < 1) fail(`"${key}" must be a positive whole number`);
    return v as number;
  };
  const intList = (v: unknown, key: string): number[] => {
    if (!Array.isArray(v) || v.length === 0) fail(`"${key}" must be a list of positive whole numbers`);
    return (v as unknown[]).map((x) => posInt(x, key));
  };
  const spec: ArchSpec = {};
  if (o.family !== undefined) {
    if (!FAMILIES.includes(o.family as Family)) fail(`"family" must be one of ${FAMILIES.join(', ')}`);
    spec.family = o.family as Family;
  }
  if (o.activation !== undefined) {
    spec.activation = parseActivation(o.activation) ?? fail(`"activation" must be one of ${ACTIVATIONS.join(', ')}`);
  }
  if (o.input_shape !== undefined) spec.inputShape = intList(o.input_shape, 'input_shape');
  if (o.normalize !== undefined) {
    const n = o.normalize as { mean?: unknown; std?: unknown };
    const nums = (v: unknown, key: string): number[] => {
      const list = typeof v === 'number' ? [v] : v;
      if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'number' && Number.isFinite(x))) fail(`"normalize.${key}" must be a number or a list of numbers`);
      return list as number[];
    };
    if (typeof n !== 'object' || n === null) fail('"normalize" must be {"mean": …, "std": …}');
    const mean = nums(n.mean, 'mean');
    const std = nums(n.std, 'std');
    if (std.some((s) => s <= 0)) fail('"normalize.std" must be positive');
    spec.normalize = { mean, std };
  }
  if (o.n_head !== undefined) spec.nHead = posInt(o.n_head, 'n_head');
  for (const [key, field] of [['layer_norm_eps', 'layerNormEps'], ['batch_norm_eps', 'batchNormEps']] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v > 0)) fail(`"${key}" must be a positive number`);
    spec[field] = v as number;
  }
  if (o.conv_padding !== undefined) {
    const p = o.conv_padding;
    if (p !== 'same' && p !== 'valid' && !(Number.isInteger(p) && (p as number) >= 0)) fail('"conv_padding" must be "same", "valid" or a whole number');
    spec.convPadding = p as ArchSpec['convPadding'];
  }
  if (o.pool_after !== undefined) {
    if (!Array.isArray(o.pool_after) || !o.pool_after.every((s) => typeof s === 'string')) fail('"pool_after" must be a list of conv module names');
    spec.poolAfter = o.pool_after as string[];
  }
  if (o.pool !== undefined) {
    const p = o.pool as { kind?: unknown; kernel?: unknown; stride?: unknown };
    if (typeof p !== 'object' || p === null || (p.kind !== 'max' && p.kind !== 'avg')) fail('"pool" must be {"kind": "max"|"avg", "kernel": k, "stride": s}');
    const kernel = p.kernel === undefined ? 2 : posInt(p.kernel, 'pool.kernel');
    spec.pool = { kind: p.kind as 'max' | 'avg', kernel, stride: p.stride === undefined ? kernel : posInt(p.stride, 'pool.stride') };
  }
  if (o.adaptive_pool !== undefined) {
    const a = intList(o.adaptive_pool, 'adaptive_pool');
    if (a.length !== 2) fail('"adaptive_pool" must be [height, width]');
    spec.adaptivePool = [a[0], a[1]];
  }
  if (o.strides !== undefined) spec.strides = intList(o.strides, 'strides');
  if (o.stem !== undefined) {
    if (o.stem !== 'imagenet' && o.stem !== 'small') fail('"stem" must be "imagenet" or "small"');
    spec.stem = o.stem as ArchSpec['stem'];
  }
  return spec;
}

export async function readArchFile(file: string): Promise<ArchSpec> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new CheckpointError(file, `cannot read the architecture file: ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `architecture file is not valid JSON: ${(e as Error).message}`);
  }
  return parseArchSpec(obj, file);
}

/** The fields a Hugging Face GPT-2 config.json gives (n_head, layer_norm_epsilon, activation_function). */
function fromHfConfig(cfg: Record<string, unknown>): ArchSpec {
  const spec: ArchSpec = {};
  if (Number.isInteger(cfg.n_head) && (cfg.n_head as number) > 0) spec.nHead = cfg.n_head as number;
  if (typeof cfg.layer_norm_epsilon === 'number' && cfg.layer_norm_epsilon > 0) spec.layerNormEps = cfg.layer_norm_epsilon;
  const act = parseActivation(cfg.activation_function);
  if (act) spec.activation = act;
  return spec;
}

/** nanoGPT saves its constructor arguments next to the weights as `model_args`. */
function fromCheckpointValues(values: Record<string, Value>): ArchSpec {
  const pick = (key: string): Value | undefined => {
    for (const root of ['model_args', 'config', 'hyper_parameters']) {
      const nested = values[root];
      if (nested && typeof nested === 'object' && !Array.isArray(nested) && key in nested) return nested[key];
      if (`${root}.${key}` in values) return values[`${root}.${key}`];
    }
    return undefined;
  };
  const spec: ArchSpec = {};
  const nHead = pick('n_head');
  if (Number.isInteger(nHead) && (nHead as number) > 0) spec.nHead = nHead as number;
  return spec;
}

/**
 * The architecture hints for a checkpoint, later sources overriding earlier ones:
 * checkpoint values (nanoGPT model_args) < config.json beside it < <checkpoint>.arch.json < --arch FILE.
 */
export async function archHints(checkpointPath: string, values: Record<string, Value>, archFile?: string): Promise<ArchSources> {
  let spec: ArchSpec = fromCheckpointValues(values);
  const files: string[] = [];
  const config = join(dirname(checkpointPath), 'config.json');
  if (existsSync(config)) {
    try {
      const cfg = JSON.parse(await fsp.readFile(config, 'utf8')) as unknown;
      if (cfg && typeof cfg === 'object' && !Array.isArray(cfg) && 'n_head' in cfg) {
        spec = { ...spec, ...fromHfConfig(cfg as Record<string, unknown>) };
        files.push(config);
      } else if (cfg && typeof cfg === 'object' && !Array.isArray(cfg) && ('model_type' in cfg || 'architectures' in cfg)) {
        // Llama, GPT-NeoX, BERT, ViT…: their recognisers read the config's own keys.
        spec = { ...spec, config: cfg as Record<string, unknown> };
        files.push(config);
      }
    } catch {
      // A config.json that is not a model config is none of our business.
    }
  }
  const sidecar = `${checkpointPath}.arch.json`;
  if (existsSync(sidecar)) {
    spec = { ...spec, ...(await readArchFile(sidecar)) };
    files.push(sidecar);
  }
  if (archFile) {
    spec = { ...spec, ...(await readArchFile(archFile)) };
    files.push(archFile);
  }
  return { spec, files };
}
