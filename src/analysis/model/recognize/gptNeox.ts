// GPT-NeoX decoders (Pythia): embed_in, LayerNorm blocks with a fused query_key_value laid out
// per head ([q_h, k_h, v_h] rows for each head h), partial rotary positions (rotary_pct of each
// head's dims), the parallel residual x + attn(ln1(x)) + mlp(ln2(x)) (use_parallel_residual,
// the default) or the sequential one, a final LayerNorm and an untied embed_out head.
import { GraphBuilder, INPUT, type RotarySpec } from '../ir';
import { parseActivation } from '../archSpec';
import { type Attempt, type RecognizeContext, fail, finish, checkedModules } from './common';
import { bool, configOf, num, rotaryFrom } from './hfConfig';

const BUFFERS = ['attention.bias', 'attention.masked_bias', 'attention.rotary_emb.inv_freq'];

export const recognizeGptNeox = (ctx: RecognizeContext): Attempt | undefined => {
  const base = ctx.byName.has('gpt_neox.embed_in.weight') ? 'gpt_neox.' : ctx.byName.has('embed_in.weight') ? '' : undefined;
  if (base === undefined) return undefined;
  const cfg = configOf(ctx);
  const wte = ctx.byName.get(`${base}embed_in.weight`)!;
  if (wte.shape.length !== 2) return fail('gpt_neox', `${wte.name} is not a 2-D embedding table`);
  const [vocab, dim] = wte.shape;
  let nLayer = 0;
  while (ctx.modules.has(`${base}layers.${nLayer}.attention.query_key_value`)) nLayer++;
  if (nLayer === 0) return fail('gpt_neox', `no blocks ${base}layers.0.attention.query_key_value`);
  const assumptions: string[] = [];
  let nHead = num(cfg, 'num_attention_heads') ?? ctx.arch.nHead;
  if (nHead === undefined) {
    nHead = Math.max(1, dim / 64);
    assumptions.push(`${nHead} attention heads (no config.json; set "n_head" in an arch file)`);
  }
  const headDim = dim / nHead;
  if (!Number.isInteger(headDim)) return fail('gpt_neox', `${nHead} heads do not divide the width ${dim}`);
  const rotary = rotaryFrom(cfg, headDim, { theta: 10000, fraction: 0.25 });
  if (typeof rotary === 'string') return fail('gpt_neox', rotary);
  if (!cfg.rope_parameters && num(cfg, 'rotary_pct') === undefined) assumptions.push(`rotary on ${rotary.dims} of ${headDim} head dims (rotary_pct 0.25, Pythia's)`);
  const parallel = bool(cfg, 'use_parallel_residual') ?? true;
  if (bool(cfg, 'use_parallel_residual') === undefined) assumptions.push('parallel residual (GPT-NeoX default)');
  const eps = num(cfg, 'layer_norm_eps') ?? 1e-5;
  const fn = parseActivation(cfg.hidden_act) ?? ctx.arch.activation ?? 'gelu';
  const maxPositions = num(cfg, 'max_position_embeddings') ?? 2048;

  const { problems, ln, lin } = checkedModules(ctx.modules, dim, eps);

  const b = new GraphBuilder();
  b.beginBlock(`${base}embed_in`, 'embedding');
  b.add(`${base}embed_in`, { op: 'embedding', weight: wte.name, numEmbeddings: vocab, dim }, [INPUT]);
  b.endBlock();
  const ignored: string[] = [];
  for (let i = 0; i < nLayer; i++) {
    const p = `${base}layers.${i}`;
    for (const buf of BUFFERS) if (ctx.byName.has(`${p}.${buf}`)) ignored.push(`${p}.${buf}`);
    const qkv = lin(`${p}.attention.query_key_value`, dim, 3 * dim);
    const dense = lin(`${p}.attention.dense`, dim, dim);
    const up = lin(`${p}.mlp.dense_h_to_4h`, dim);
    const down = lin(`${p}.mlp.dense_4h_to_h`, up.outFeatures, dim);
    const x = b.current;
    b.beginBlock(p, 'residual', true);
    b.add(`${p}.input_layernorm`, ln(`${p}.input_layernorm`));
    const attn = b.add(`${p}.attention`, {
      op: 'attention', dim, nHead, nKvHead: nHead, headDim, causal: true, rotary: rotary as RotarySpec,
      qkv: { kind: 'per_head', weight: qkv.weight, bias: qkv.bias },
      out: { weight: dense.weight, bias: dense.bias, layout: 'out_in' },
    });
    const mlpIn = parallel ? x : b.add(`${p}.add_attn`, { op: 'add' }, [x, attn]);
    b.add(`${p}.post_attention_layernorm`, ln(`${p}.post_attention_layernorm`), [mlpIn]);
    b.add(`${p}.mlp.dense_h_to_4h`, { op: 'linear', ...up, layout: 'out_in' });
    b.add(`${p}.mlp.act`, { op: 'activation', fn });
    const m = b.add(`${p}.mlp.dense_4h_to_h`, { op: 'linear', ...down, layout: 'out_in' });
    if (parallel) {
      const a = b.add(`${p}.add_attn`, { op: 'add' }, [x, attn]);
      b.add(`${p}.add_mlp`, { op: 'add' }, [a, m]);
    } else b.add(`${p}.add_mlp`, { op: 'add' }, [mlpIn, m]);
    b.endBlock();
  }
  b.beginBlock(`${base}final_layer_norm`, 'block');
  b.add(`${base}final_layer_norm`, ln(`${base}final_layer_norm`));
  b.endBlock();
  if (problems.length) return fail('gpt_neox', problems.slice(0, 6).join('; '));
  const head = ctx.byName.get('embed_out.weight');
  if (!head || head.shape[0] !== vocab || head.shape[1] !== dim) return fail('gpt_neox', `no embed_out.weight [${vocab}, ${dim}]`);
  b.beginBlock('embed_out', 'head');
  b.add('embed_out', { op: 'linear', weight: head.name, inFeatures: dim, outFeatures: vocab, layout: 'out_in' });
  b.endBlock();
  return finish(ctx, 'gpt_neox', {
    description: `GPT-NeoX decoder, ${nLayer} layers, width ${dim}, ${nHead} heads (rotary on ${rotary.dims} of ${headDim} dims), ${parallel ? 'parallel' : 'sequential'} residual, vocabulary ${vocab}, context ${maxPositions}`,
    input: { kind: 'tokens', shape: [maxPositions], vocabSize: vocab },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    ignored,
    assumptions,
  });
};
