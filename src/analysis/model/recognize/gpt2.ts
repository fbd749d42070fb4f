// GPT-2-style decoders: token + learned position embeddings, pre-LayerNorm blocks of causal
// self-attention and a 4× MLP, a final LayerNorm and an LM head (tied to the token embedding
// when the checkpoint has no lm_head.weight). Two namings: Hugging Face GPT-2
// (transformer.h.N.attn.c_attn with Conv1D weights stored [in, out], gelu_new) and nanoGPT
// (the same names with nn.Linear weights [out, in], exact GELU, biases optional).
import { GraphBuilder, INPUT, type WeightLayout } from '../ir';
import { type Attempt, type RecognizeContext, asLayerNorm, asLinear, fail, finish } from './common';

export const recognizeGpt2 = (ctx: RecognizeContext): Attempt | undefined => {
  const base = ctx.byName.has('transformer.wte.weight') ? 'transformer.' : ctx.byName.has('wte.weight') ? '' : undefined;
  if (base === undefined) return undefined;
  const wte = ctx.byName.get(`${base}wte.weight`)!;
  const wpe = ctx.byName.get(`${base}wpe.weight`);
  if (wte.shape.length !== 2) return fail('gpt2', `${base}wte.weight is not a 2-D embedding table`);
  const [vocab, dim] = wte.shape;
  if (!wpe || wpe.shape.length !== 2 || wpe.shape[1] !== dim) return fail('gpt2', `no ${base}wpe.weight position table of width ${dim}`);

  let nLayer = 0;
  while (ctx.modules.has(`${base}h.${nLayer}.ln_1`)) nLayer++;
  if (nLayer === 0) return fail('gpt2', `no blocks ${base}h.0…`);
  const qkv0 = ctx.byName.get(`${base}h.0.attn.c_attn.weight`);
  if (!qkv0 || qkv0.shape.length !== 2) return fail('gpt2', `no ${base}h.0.attn.c_attn.weight`);
  const layout: WeightLayout = qkv0.shape[0] === dim && qkv0.shape[1] === 3 * dim ? 'in_out' : 'out_in';
  const hf = layout === 'in_out';

  const assumptions: string[] = [];
  const fn = ctx.arch.activation ?? (hf ? 'gelu_tanh' : 'gelu');
  if (!ctx.arch.activation) assumptions.push(hf ? 'MLP activation gelu_new (tanh approximation), as Hugging Face GPT-2' : 'MLP activation exact GELU (nn.GELU), as nanoGPT');
  let nHead = ctx.arch.nHead;
  if (nHead === undefined) {
    nHead = dim % 64 === 0 ? dim / 64 : 1;
    assumptions.push(`${nHead} attention head${nHead > 1 ? 's' : ''} (default: 64-dimensional heads; set "n_head" in an arch file)`);
  }
  if (dim % nHead !== 0) return fail('gpt2', `n_head ${nHead} does not divide the width ${dim}`);
  const eps = ctx.arch.layerNormEps ?? 1e-5;

  const problems: string[] = [];
  const mod = (p: string) => ctx.modules.get(p);
  const ln = (path: string) => {
    const n = asLayerNorm(mod(path));
    if (!n || n.size !== dim) problems.push(`${path} is not a LayerNorm of width ${dim}`);
    return { op: 'layernorm' as const, size: dim, weight: n?.weight ?? `${path}.weight`, bias: n?.bias, eps };
  };
  const lin = (path: string, inF: number, outF: number) => {
    const l = asLinear(mod(path), layout);
    if (!l || l.inFeatures !== inF || l.outFeatures !== outF) problems.push(`${path} is not a ${hf ? 'Conv1D' : 'Linear'} ${inF}→${outF}`);
    return l;
  };

  const b = new GraphBuilder();
  b.beginBlock(`${base}wte`, 'embedding');
  b.add(`${base}wte`, { op: 'embedding', weight: wte.name, numEmbeddings: vocab, dim }, [INPUT]);
  b.add(`${base}wpe`, { op: 'position_embedding', weight: wpe.name, maxPositions: wpe.shape[0], dim });
  b.endBlock();
  const ignored: string[] = [];
  for (let i = 0; i < nLayer; i++) {
    const p = `${base}h.${i}`;
    for (const mask of ['bias', 'masked_bias']) if (ctx.byName.has(`${p}.attn.${mask}`)) ignored.push(`${p}.attn.${mask}`);
    const qkv = lin(`${p}.attn.c_attn`, dim, 3 * dim);
    const proj = lin(`${p}.attn.c_proj`, dim, dim);
    const fc = lin(`${p}.mlp.c_fc`, dim, 4 * dim);
    const hidden = fc?.outFeatures ?? 4 * dim;
    const out = lin(`${p}.mlp.c_proj`, hidden, dim);
    if (!qkv || !proj || !fc || !out) continue;
    const x = b.current;
    b.beginBlock(p, 'residual', true);
    b.add(`${p}.ln_1`, ln(`${p}.ln_1`));
    const attn = b.add(`${p}.attn`, { op: 'causal_self_attention', qkvWeight: qkv.weight, qkvBias: qkv.bias, projWeight: proj.weight, projBias: proj.bias, dim, nHead, layout });
    const mid = b.add(`${p}.add_attn`, { op: 'add' }, [x, attn]);
    b.add(`${p}.ln_2`, ln(`${p}.ln_2`));
    b.add(`${p}.mlp.c_fc`, { op: 'linear', ...fc, layout });
    b.add(`${p}.mlp.act`, { op: 'activation', fn });
    const m = b.add(`${p}.mlp.c_proj`, { op: 'linear', ...out, layout });
    b.add(`${p}.add_mlp`, { op: 'add' }, [mid, m]);
    b.endBlock();
  }
  b.beginBlock(`${base}ln_f`, 'block');
  b.add(`${base}ln_f`, ln(`${base}ln_f`));
  b.endBlock();
  if (problems.length) return fail('gpt2', problems.join('; '));

  const head = ctx.byName.get('lm_head.weight');
  if (head && (head.shape[0] !== vocab || head.shape[1] !== dim)) return fail('gpt2', `lm_head.weight is [${head.shape}], expected [${vocab}, ${dim}]`);
  const aliases: Record<string, string> = head ? {} : { 'lm_head.weight': wte.name };
  if (!head) assumptions.push(`LM head tied to ${wte.name}`);
  b.beginBlock('lm_head', 'head');
  b.add('lm_head', { op: 'linear', weight: 'lm_head.weight', inFeatures: dim, outFeatures: vocab, layout: 'out_in' });
  b.endBlock();

  return finish(ctx, 'gpt2', {
    description: `GPT-2-style decoder (${hf ? 'Hugging Face' : 'nanoGPT'} names), ${nLayer} layers, width ${dim}, ${nHead} heads, vocabulary ${vocab}, context ${wpe.shape[0]}`,
    input: { kind: 'tokens', shape: [wpe.shape[0]], vocabSize: vocab },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    aliases,
    ignored,
    assumptions,
  });
};
