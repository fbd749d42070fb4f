// TransformerLens HookedTransformer state dicts: embed.W_E, pos_embed.W_pos, blocks.N with
// ln1/ln2 (w and b: LayerNorm; w only: RMSNorm; neither: the weightless LNPre that fold_ln
// leaves), attn.W_Q/W_K/W_V [heads, d_model, d_head] with b_Q… [heads, d_head], attn.W_O
// [heads, d_head, d_model], mlp.W_in [d_model, d_mlp] / W_out (absent in attention-only
// models), ln_final and unembed.W_U [d_model, d_vocab] with b_U. The mask and IGNORE buffers
// are not weights. Activation from a TL config (act_fn) or an arch file; default gelu_new, as
// TL's GPT-2 conversions use.
import { GraphBuilder, INPUT } from '../ir';
import { parseActivation } from '../archSpec';
import { type Attempt, type RecognizeContext, fail, finish } from './common';
import { configOf, num } from './hfConfig';

export const recognizeTransformerLens = (ctx: RecognizeContext): Attempt | undefined => {
  const we = ctx.byName.get('embed.W_E');
  if (!we || !ctx.byName.has('blocks.0.attn.W_Q')) return undefined;
  const cfg = configOf(ctx);
  if (we.shape.length !== 2) return fail('transformer_lens', 'embed.W_E is not [d_vocab, d_model]');
  const [vocab, dim] = we.shape;
  const wq = ctx.byName.get('blocks.0.attn.W_Q')!;
  if (wq.shape.length !== 3 || wq.shape[1] !== dim) return fail('transformer_lens', `blocks.0.attn.W_Q is [${wq.shape}], not [heads, ${dim}, d_head]`);
  const [nHead, , headDim] = wq.shape;
  const pos = ctx.byName.get('pos_embed.W_pos');
  if (!pos) return fail('transformer_lens', 'no pos_embed.W_pos: rotary and shortformer TransformerLens models are not supported');
  let nLayer = 0;
  while (ctx.byName.has(`blocks.${nLayer}.attn.W_Q`)) nLayer++;
  const attnOnly = !ctx.byName.has('blocks.0.mlp.W_in');
  const assumptions: string[] = [];
  const fn = parseActivation(cfg.act_fn) ?? ctx.arch.activation ?? 'gelu_tanh';
  if (!attnOnly && !parseActivation(cfg.act_fn) && !ctx.arch.activation) assumptions.push('MLP activation gelu_new (TL config act_fn absent)');
  const eps = num(cfg, 'eps') ?? ctx.arch.layerNormEps ?? 1e-5;

  const norm = (path: string) => {
    const w = ctx.byName.get(`${path}.w`);
    const bias = ctx.byName.get(`${path}.b`);
    if (w && !bias) return { op: 'rmsnorm' as const, weight: w.name, size: dim, eps };
    return { op: 'layernorm' as const, weight: w?.name, bias: bias?.name, size: dim, eps };
  };
  const has = (n: string) => (ctx.byName.has(n) ? n : undefined);
  const b = new GraphBuilder();
  b.beginBlock('embed', 'embedding');
  b.add('embed', { op: 'embedding', weight: we.name, numEmbeddings: vocab, dim }, [INPUT]);
  b.add('pos_embed', { op: 'position_embedding', weight: pos.name, maxPositions: pos.shape[0], dim });
  b.endBlock();
  const ignored: string[] = [];
  for (let i = 0; i < nLayer; i++) {
    const p = `blocks.${i}`;
    for (const buf of ['attn.mask', 'attn.IGNORE']) if (ctx.byName.has(`${p}.${buf}`)) ignored.push(`${p}.${buf}`);
    const x = b.current;
    b.beginBlock(p, 'residual', true);
    b.add(`${p}.ln1`, norm(`${p}.ln1`));
    const attn = b.add(`${p}.attn`, {
      op: 'attention', dim, nHead, nKvHead: nHead, headDim, causal: true,
      qkv: { kind: 'tl', q: `${p}.attn.W_Q`, k: `${p}.attn.W_K`, v: `${p}.attn.W_V`, qBias: has(`${p}.attn.b_Q`), kBias: has(`${p}.attn.b_K`), vBias: has(`${p}.attn.b_V`) },
      out: { weight: `${p}.attn.W_O`, bias: has(`${p}.attn.b_O`), layout: 'tl' },
    });
    const mid = b.add(`${p}.add_attn`, { op: 'add' }, [x, attn]);
    if (!attnOnly) {
      const win = ctx.byName.get(`${p}.mlp.W_in`);
      if (!win || win.shape.length !== 2 || win.shape[0] !== dim) return fail('transformer_lens', `${p}.mlp.W_in is not [${dim}, d_mlp]`);
      const dMlp = win.shape[1];
      b.add(`${p}.ln2`, norm(`${p}.ln2`));
      b.add(`${p}.mlp.W_in`, { op: 'linear', weight: win.name, bias: has(`${p}.mlp.b_in`), inFeatures: dim, outFeatures: dMlp, layout: 'in_out' });
      b.add(`${p}.mlp.act`, { op: 'activation', fn });
      const m = b.add(`${p}.mlp.W_out`, { op: 'linear', weight: `${p}.mlp.W_out`, bias: has(`${p}.mlp.b_out`), inFeatures: dMlp, outFeatures: dim, layout: 'in_out' });
      b.add(`${p}.add_mlp`, { op: 'add' }, [mid, m]);
    }
    b.endBlock();
  }
  b.beginBlock('ln_final', 'block');
  b.add('ln_final', norm('ln_final'));
  b.endBlock();
  const wu = ctx.byName.get('unembed.W_U');
  if (!wu || wu.shape[0] !== dim) return fail('transformer_lens', `no unembed.W_U [${dim}, d_vocab]`);
  b.beginBlock('unembed', 'head');
  b.add('unembed', { op: 'linear', weight: wu.name, bias: has('unembed.b_U'), inFeatures: dim, outFeatures: wu.shape[1], layout: 'in_out' });
  b.endBlock();
  return finish(ctx, 'transformer_lens', {
    description: `TransformerLens HookedTransformer${attnOnly ? ' (attention-only)' : ''}, ${nLayer} layers, d_model ${dim}, ${nHead} heads of ${headDim}, vocabulary ${vocab}, context ${pos.shape[0]}`,
    input: { kind: 'tokens', shape: [pos.shape[0]], vocabSize: vocab },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    ignored,
    assumptions,
  });
};
