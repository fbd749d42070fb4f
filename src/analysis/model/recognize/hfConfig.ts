// Reading a Hugging Face config.json (what save_pretrained writes beside the weights) for the
// transformer recognisers: numbers under their several historical names, and rotary settings
// in both the transformers 5 form (rope_parameters) and the 4.x one (rope_theta, rope_scaling,
// rotary_pct / rotary_emb_base).
import type { RotarySpec } from '../ir';
import type { RecognizeContext } from './common';

export type HfConfig = Record<string, unknown>;

export function configOf(ctx: RecognizeContext): HfConfig {
  return ctx.arch.config ?? {};
}

/** The first key holding a finite number. */
export function num(cfg: HfConfig, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = cfg[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

export function bool(cfg: HfConfig, key: string): boolean | undefined {
  const v = cfg[key];
  return typeof v === 'boolean' ? v : undefined;
}

/**
 * Rotary settings for heads of `headDim`, or a message when the config asks for a scaling this
 * library does not compute (yarn, dynamic, longrope…).
 */
export function rotaryFrom(cfg: HfConfig, headDim: number, defaults: { theta: number; fraction?: number }): RotarySpec | string {
  const rp = (cfg.rope_parameters && typeof cfg.rope_parameters === 'object' ? cfg.rope_parameters : {}) as HfConfig;
  const legacy = (cfg.rope_scaling && typeof cfg.rope_scaling === 'object' ? cfg.rope_scaling : {}) as HfConfig;
  const theta = num(rp, 'rope_theta') ?? num(cfg, 'rope_theta', 'rotary_emb_base') ?? defaults.theta;
  const fraction = num(rp, 'partial_rotary_factor') ?? num(cfg, 'partial_rotary_factor', 'rotary_pct') ?? defaults.fraction ?? 1;
  const dims = Math.floor(headDim * fraction);
  const s = { ...legacy, ...rp };
  const type = (typeof s.rope_type === 'string' ? s.rope_type : typeof s.type === 'string' ? s.type : 'default') as string;
  const spec: RotarySpec = { dims, theta };
  if (type === 'default') return spec;
  const factor = num(s, 'factor');
  if (factor === undefined) return `rope scaling "${type}" without a factor`;
  if (type === 'linear') return { ...spec, scaling: { type: 'linear', factor } };
  if (type === 'llama3') {
    const lowFreqFactor = num(s, 'low_freq_factor');
    const highFreqFactor = num(s, 'high_freq_factor');
    const originalMaxPositions = num(s, 'original_max_position_embeddings');
    if (lowFreqFactor === undefined || highFreqFactor === undefined || originalMaxPositions === undefined) return 'llama3 rope scaling needs low_freq_factor, high_freq_factor and original_max_position_embeddings';
    return { ...spec, scaling: { type: 'llama3', factor, lowFreqFactor, highFreqFactor, originalMaxPositions } };
  }
  return `rope scaling "${type}" is not supported (default, linear and llama3 are)`;
}
