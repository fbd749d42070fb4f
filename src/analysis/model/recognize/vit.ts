// Vision transformers under Hugging Face's ViTForImageClassification names
// (vit.embeddings.patch_embeddings.projection, cls_token, position_embeddings,
// vit.encoder.layer.N with separate query/key/value, vit.layernorm, classifier) and torchvision's
// vit_b_16-style names (conv_proj, class_token, encoder.pos_embedding,
// encoder.layers.encoder_layer_N with a fused in_proj_weight, encoder.ln, heads.head): a
// patchifying convolution, the class token, learned positions, pre-LN blocks of bidirectional
// attention and a GELU MLP, a final LayerNorm and a linear head on the class token.
import { GraphBuilder, INPUT } from '../ir';
import { parseActivation } from '../archSpec';
import { type Attempt, type RecognizeContext, asConv, fail, finish, checkedModules } from './common';
import { configOf, num } from './hfConfig';

interface Names {
  style: 'Hugging Face' | 'torchvision';
  conv: string;
  cls: string;
  pos: string;
  layer: (i: number) => string;
  ln1: string;
  ln2: string;
  mlp1: string;
  mlp2: string;
  out: string;
  final: string;
  head: string;
}

const HF: Names = {
  style: 'Hugging Face', conv: 'vit.embeddings.patch_embeddings.projection', cls: 'vit.embeddings.cls_token', pos: 'vit.embeddings.position_embeddings',
  layer: (i) => `vit.encoder.layer.${i}`, ln1: 'layernorm_before', ln2: 'layernorm_after', mlp1: 'intermediate.dense', mlp2: 'output.dense', out: 'attention.output.dense',
  final: 'vit.layernorm', head: 'classifier',
};
const TV: Names = {
  style: 'torchvision', conv: 'conv_proj', cls: 'class_token', pos: 'encoder.pos_embedding',
  layer: (i) => `encoder.layers.encoder_layer_${i}`, ln1: 'ln_1', ln2: 'ln_2', mlp1: 'mlp.0', mlp2: 'mlp.3', out: 'self_attention.out_proj',
  final: 'encoder.ln', head: 'heads.head',
};

export const recognizeVit = (ctx: RecognizeContext): Attempt | undefined => {
  const names = ctx.byName.has(`${HF.conv}.weight`) ? HF : ctx.byName.has(`${TV.conv}.weight`) && ctx.byName.has(TV.cls) ? TV : undefined;
  if (!names) return undefined;
  const cfg = configOf(ctx);
  const conv = asConv(ctx.modules.get(names.conv));
  const cls = ctx.byName.get(names.cls);
  const pos = ctx.byName.get(names.pos);
  if (!conv || !cls || !pos || pos.shape.length !== 3) return fail('vit', `needs ${names.conv}, ${names.cls} and ${names.pos} [1, patches + 1, width]`);
  const dim = conv.outChannels;
  const patch = conv.kernel[0];
  const grid = Math.round(Math.sqrt(pos.shape[1] - 1));
  if (grid * grid !== pos.shape[1] - 1) return fail('vit', `${pos.shape[1] - 1} patch positions are not a square grid`);
  const side = num(cfg, 'image_size') ?? grid * patch;
  let nLayer = 0;
  while (ctx.modules.has(`${names.layer(nLayer)}.${names.ln1}`)) nLayer++;
  const assumptions: string[] = [];
  let nHead = num(cfg, 'num_attention_heads') ?? ctx.arch.nHead;
  if (nHead === undefined) {
    nHead = Math.max(1, dim / 64);
    assumptions.push(`${nHead} attention heads (no config.json; set "n_head" in an arch file)`);
  }
  const headDim = dim / nHead;
  if (!Number.isInteger(headDim)) return fail('vit', `${nHead} heads do not divide the width ${dim}`);
  const eps = num(cfg, 'layer_norm_eps') ?? ctx.arch.layerNormEps ?? (names === TV ? 1e-6 : 1e-12);
  if (num(cfg, 'layer_norm_eps') === undefined && ctx.arch.layerNormEps === undefined) assumptions.push(`LayerNorm eps ${eps} (${names.style} default)`);
  const fn = parseActivation(cfg.hidden_act) ?? ctx.arch.activation ?? 'gelu';

  const { problems, ln, lin } = checkedModules(ctx.modules, dim, eps);

  const b = new GraphBuilder();
  b.beginBlock('embeddings', 'embedding');
  b.add(names.conv, { op: 'conv2d', ...conv, stride: [patch, conv.kernel[1]], padding: [0, 0] }, [INPUT]);
  b.add('patches', { op: 'to_sequence' });
  b.add(names.cls, { op: 'class_token', weight: cls.name, dim });
  b.add(names.pos, { op: 'position_embedding', weight: pos.name, maxPositions: pos.shape[1], dim, batched: true });
  b.endBlock();
  for (let i = 0; i < nLayer; i++) {
    const p = names.layer(i);
    const x = b.current;
    b.beginBlock(p, 'residual', true);
    b.add(`${p}.${names.ln1}`, ln(`${p}.${names.ln1}`));
    const o = lin(`${p}.${names.out}`, dim, dim);
    const qkv = names === HF
      ? (() => {
          const [q, k, v] = ['query', 'key', 'value'].map((s) => lin(`${p}.attention.attention.${s}`, dim, dim));
          return { kind: 'separate' as const, q: q.weight, k: k.weight, v: v.weight, qBias: q.bias, kBias: k.bias, vBias: v.bias };
        })()
      : { kind: 'fused' as const, weight: `${p}.self_attention.in_proj_weight`, bias: ctx.byName.has(`${p}.self_attention.in_proj_bias`) ? `${p}.self_attention.in_proj_bias` : undefined, layout: 'out_in' as const };
    const attn = b.add(`${p}.attention`, { op: 'attention', dim, nHead, nKvHead: nHead, headDim, causal: false, qkv, out: { weight: o.weight, bias: o.bias, layout: 'out_in' } });
    const mid = b.add(`${p}.add_attn`, { op: 'add' }, [x, attn]);
    b.add(`${p}.${names.ln2}`, ln(`${p}.${names.ln2}`));
    const up = lin(`${p}.${names.mlp1}`, dim);
    b.add(`${p}.${names.mlp1}`, { op: 'linear', ...up, layout: 'out_in' });
    b.add(`${p}.mlp.act`, { op: 'activation', fn });
    const m = b.add(`${p}.${names.mlp2}`, { op: 'linear', ...lin(`${p}.${names.mlp2}`, up.outFeatures, dim), layout: 'out_in' });
    b.add(`${p}.add_mlp`, { op: 'add' }, [mid, m]);
    b.endBlock();
  }
  b.beginBlock(names.final, 'block');
  b.add(names.final, ln(names.final));
  b.add('class_token_out', { op: 'select_token', index: 0 });
  b.endBlock();
  const head = lin(names.head, dim);
  b.beginBlock(names.head, 'head');
  b.add(names.head, { op: 'linear', ...head, layout: 'out_in' });
  b.endBlock();
  if (problems.length) return fail('vit', problems.slice(0, 6).join('; '));
  return finish(ctx, 'vit', {
    description: `Vision transformer (${names.style} names), ${nLayer} layers, width ${dim}, ${nHead} heads, ${patch}×${patch} patches on ${side}×${side} images, ${head.outFeatures} classes`,
    input: { kind: 'image', shape: [conv.inChannels, side, side] },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    assumptions,
  });
};
