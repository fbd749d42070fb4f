// Llama-family decoders (LlamaForCausalLM and the models sharing its layout: Mistral, Qwen2,
// SmolLM, TinyLlama): token embedding, pre-RMSNorm blocks of rotary grouped-query attention
// (q/k/v biases when present, as Qwen2) and a SwiGLU MLP (down(silu(gate(x)) · up(x))), a final
// RMSNorm and an LM head tied to the embedding when the checkpoint has none. Head counts, rope
// settings and Mistral's sliding window come from config.json; without one, 64-dimensional heads
// and no grouping are assumed and said.
import { GraphBuilder, INPUT, type RotarySpec } from '../ir';
import { type Attempt, type RecognizeContext, asLinear, fail, finish } from './common';
import { bool, configOf, num, rotaryFrom } from './hfConfig';

export const recognizeLlama = (ctx: RecognizeContext): Attempt | undefined => {
  // `model.` is stripped by localStateDict when every tensor has it (a tied head).
  const base = ctx.byName.has('model.embed_tokens.weight') ? 'model.' : ctx.byName.has('embed_tokens.weight') ? '' : undefined;
  if (base === undefined || !ctx.byName.has(`${base}layers.0.self_attn.q_proj.weight`)) return undefined;
  const cfg = configOf(ctx);
  const wte = ctx.byName.get(`${base}embed_tokens.weight`)!;
  if (wte.shape.length !== 2) return fail('llama', `${wte.name} is not a 2-D embedding table`);
  const [vocab, dim] = wte.shape;
  let nLayer = 0;
  while (ctx.modules.has(`${base}layers.${nLayer}.self_attn.q_proj`)) nLayer++;

  const assumptions: string[] = [];
  const qRows = ctx.byName.get(`${base}layers.0.self_attn.q_proj.weight`)!.shape[0];
  const kRows = ctx.byName.get(`${base}layers.0.self_attn.k_proj.weight`)?.shape[0] ?? qRows;
  let nHead = num(cfg, 'num_attention_heads') ?? ctx.arch.nHead;
  let headDim = num(cfg, 'head_dim');
  if (nHead === undefined) {
    headDim ??= 64;
    nHead = qRows / headDim;
    assumptions.push(`${nHead} attention heads of ${headDim} dims (no config.json; set "n_head" in an arch file)`);
  }
  headDim ??= qRows / nHead;
  if (!Number.isInteger(nHead) || !Number.isInteger(headDim) || nHead * headDim !== qRows) return fail('llama', `q_proj has ${qRows} outputs, not ${nHead} heads of ${headDim}`);
  const nKvHead = num(cfg, 'num_key_value_heads') ?? kRows / headDim;
  if (!Number.isInteger(nKvHead) || nKvHead * headDim !== kRows || nHead % nKvHead !== 0) return fail('llama', `k_proj has ${kRows} outputs, which is not a whole number of ${headDim}-dim key/value heads dividing ${nHead}`);
  const eps = num(cfg, 'rms_norm_eps') ?? 1e-6;
  if (num(cfg, 'rms_norm_eps') === undefined) assumptions.push('RMSNorm eps 1e-6 (Llama default)');
  const rotary = rotaryFrom(cfg, headDim, { theta: 10000 });
  if (typeof rotary === 'string') return fail('llama', rotary);
  if (num(cfg, 'rope_theta') === undefined && !cfg.rope_parameters) assumptions.push(`rope θ ${(rotary as RotarySpec).theta} (default)`);
  const act = typeof cfg.hidden_act === 'string' ? cfg.hidden_act : 'silu';
  if (act !== 'silu') return fail('llama', `hidden_act "${act}" (only SwiGLU with silu is supported)`);
  // Mistral / Qwen2: exact within the window; longer sequences are refused by the attention op.
  const windowed = bool(cfg, 'use_sliding_window') ?? true;
  const window = windowed ? num(cfg, 'sliding_window') : undefined;
  const maxPositions = num(cfg, 'max_position_embeddings') ?? 2048;
  if (num(cfg, 'max_position_embeddings') === undefined) assumptions.push('context 2048 tokens (no config.json)');

  const problems: string[] = [];
  const lin = (path: string, inF: number, outF: number, bias: 'optional' | 'none' = 'optional') => {
    const l = asLinear(ctx.modules.get(path));
    if (!l || l.inFeatures !== inF || l.outFeatures !== outF || (bias === 'none' && l.bias)) problems.push(`${path} is not a Linear ${inF}→${outF}`);
    return l ?? { weight: `${path}.weight`, inFeatures: inF, outFeatures: outF };
  };
  const norm = (path: string) => {
    const w = ctx.byName.get(`${path}.weight`);
    if (!w || w.shape.length !== 1 || w.shape[0] !== dim) problems.push(`${path} is not an RMSNorm of width ${dim}`);
    return { op: 'rmsnorm' as const, weight: `${path}.weight`, size: dim, eps };
  };

  const b = new GraphBuilder();
  b.beginBlock(`${base}embed_tokens`, 'embedding');
  b.add(`${base}embed_tokens`, { op: 'embedding', weight: wte.name, numEmbeddings: vocab, dim }, [INPUT]);
  b.endBlock();
  const ignored: string[] = [];
  for (let i = 0; i < nLayer; i++) {
    const p = `${base}layers.${i}`;
    if (ctx.byName.has(`${p}.self_attn.rotary_emb.inv_freq`)) ignored.push(`${p}.self_attn.rotary_emb.inv_freq`);
    const q = lin(`${p}.self_attn.q_proj`, dim, nHead * headDim);
    const k = lin(`${p}.self_attn.k_proj`, dim, nKvHead * headDim);
    const v = lin(`${p}.self_attn.v_proj`, dim, nKvHead * headDim);
    const o = lin(`${p}.self_attn.o_proj`, nHead * headDim, dim);
    const gate = lin(`${p}.mlp.gate_proj`, dim, ctx.byName.get(`${p}.mlp.gate_proj.weight`)?.shape[0] ?? 0);
    const up = lin(`${p}.mlp.up_proj`, dim, gate.outFeatures);
    const down = lin(`${p}.mlp.down_proj`, gate.outFeatures, dim);
    const x = b.current;
    b.beginBlock(p, 'residual', true);
    b.add(`${p}.input_layernorm`, norm(`${p}.input_layernorm`));
    const attn = b.add(`${p}.self_attn`, {
      op: 'attention', dim, nHead, nKvHead, headDim, causal: true, rotary: rotary as RotarySpec, window,
      qkv: { kind: 'separate', q: q.weight, k: k.weight, v: v.weight, qBias: q.bias, kBias: k.bias, vBias: v.bias },
      out: { weight: o.weight, bias: o.bias, layout: 'out_in' },
    });
    const mid = b.add(`${p}.add_attn`, { op: 'add' }, [x, attn]);
    const h = b.add(`${p}.post_attention_layernorm`, norm(`${p}.post_attention_layernorm`));
    b.add(`${p}.mlp.gate_proj`, { op: 'linear', ...gate, layout: 'out_in' });
    const g = b.add(`${p}.mlp.act`, { op: 'activation', fn: 'silu' });
    const u = b.add(`${p}.mlp.up_proj`, { op: 'linear', ...up, layout: 'out_in' }, [h]);
    b.add(`${p}.mlp.gated`, { op: 'mul' }, [g, u]);
    const m = b.add(`${p}.mlp.down_proj`, { op: 'linear', ...down, layout: 'out_in' });
    b.add(`${p}.add_mlp`, { op: 'add' }, [mid, m]);
    b.endBlock();
  }
  b.beginBlock(`${base}norm`, 'block');
  b.add(`${base}norm`, norm(`${base}norm`));
  b.endBlock();
  if (problems.length) return fail('llama', problems.slice(0, 6).join('; '));
  const head = ctx.byName.get('lm_head.weight');
  if (head && (head.shape[0] !== vocab || head.shape[1] !== dim)) return fail('llama', `lm_head.weight is [${head.shape}], expected [${vocab}, ${dim}]`);
  const aliases: Record<string, string> = head ? {} : { 'lm_head.weight': wte.name };
  if (!head) assumptions.push(`LM head tied to ${wte.name}`);
  b.beginBlock('lm_head', 'head');
  b.add('lm_head', { op: 'linear', weight: 'lm_head.weight', inFeatures: dim, outFeatures: vocab, layout: 'out_in' });
  b.endBlock();
  const kind = typeof cfg.model_type === 'string' ? cfg.model_type : 'llama';
  const gqa = nKvHead < nHead ? `, ${nKvHead} key/value heads` : '';
  return finish(ctx, 'llama', {
    description: `Llama-family decoder (${kind}), ${nLayer} layers, width ${dim}, ${nHead} heads of ${headDim}${gqa}, vocabulary ${vocab}, context ${maxPositions}${window ? `, sliding window ${window}` : ''}`,
    input: { kind: 'tokens', shape: [window ? Math.min(window, maxPositions) : maxPositions], vocabSize: vocab },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    aliases,
    ignored,
    assumptions,
  });
};
