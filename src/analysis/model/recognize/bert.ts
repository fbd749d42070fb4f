// BERT encoders (BertModel, BertForMaskedLM, BertForSequenceClassification): word + position +
// token-type embeddings and a LayerNorm, post-LN blocks (x ← LN(x + attn(x)); x ← LN(x +
// ffn(x))) of bidirectional attention that skips padded keys (the batch's attention_mask), then
// the MLM head (dense, GELU, LayerNorm, a decoder tied to the word embeddings, bias
// cls.predictions.bias) or the pooler (tanh(dense(x[CLS]))) and the classifier. A bare BertModel
// outputs its last hidden state.
import { GraphBuilder, INPUT } from '../ir';
import { parseActivation } from '../archSpec';
import { type Attempt, type RecognizeContext, asLinear, fail, finish, checkedModules } from './common';
import { configOf, num } from './hfConfig';

export const recognizeBert = (ctx: RecognizeContext): Attempt | undefined => {
  const base = ctx.byName.has('bert.embeddings.word_embeddings.weight') ? 'bert.' : ctx.byName.has('embeddings.word_embeddings.weight') ? '' : undefined;
  if (base === undefined) return undefined;
  const cfg = configOf(ctx);
  const e = `${base}embeddings`;
  const wte = ctx.byName.get(`${e}.word_embeddings.weight`)!;
  const wpe = ctx.byName.get(`${e}.position_embeddings.weight`);
  const wtt = ctx.byName.get(`${e}.token_type_embeddings.weight`);
  if (wte.shape.length !== 2 || !wpe) return fail('bert', `no ${e}.position_embeddings.weight`);
  const [vocab, dim] = wte.shape;
  let nLayer = 0;
  while (ctx.modules.has(`${base}encoder.layer.${nLayer}.attention.self.query`)) nLayer++;
  const assumptions: string[] = [];
  let nHead = num(cfg, 'num_attention_heads') ?? ctx.arch.nHead;
  if (nHead === undefined) {
    nHead = Math.max(1, dim / 64);
    assumptions.push(`${nHead} attention heads (no config.json; set "n_head" in an arch file)`);
  }
  const headDim = dim / nHead;
  if (!Number.isInteger(headDim)) return fail('bert', `${nHead} heads do not divide the width ${dim}`);
  const eps = num(cfg, 'layer_norm_eps') ?? ctx.arch.layerNormEps ?? 1e-12;
  const fn = parseActivation(cfg.hidden_act) ?? ctx.arch.activation ?? 'gelu';

  const { problems, ln, lin } = checkedModules(ctx.modules, dim, eps);

  const b = new GraphBuilder();
  b.beginBlock(e, 'embedding');
  b.add(`${e}.word_embeddings`, { op: 'embedding', weight: wte.name, numEmbeddings: vocab, dim }, [INPUT]);
  b.add(`${e}.position_embeddings`, { op: 'position_embedding', weight: wpe.name, maxPositions: wpe.shape[0], dim });
  if (wtt) b.add(`${e}.token_type_embeddings`, { op: 'token_type_embedding', weight: wtt.name, numTypes: wtt.shape[0], dim });
  b.add(`${e}.LayerNorm`, ln(`${e}.LayerNorm`));
  b.endBlock();
  const ignored = [`${e}.position_ids`, `${e}.token_type_ids`].filter((n) => ctx.byName.has(n));
  for (let i = 0; i < nLayer; i++) {
    const p = `${base}encoder.layer.${i}`;
    const q = lin(`${p}.attention.self.query`, dim, dim);
    const k = lin(`${p}.attention.self.key`, dim, dim);
    const v = lin(`${p}.attention.self.value`, dim, dim);
    const o = lin(`${p}.attention.output.dense`, dim, dim);
    const up = lin(`${p}.intermediate.dense`, dim);
    const down = lin(`${p}.output.dense`, up.outFeatures, dim);
    const x = b.current;
    b.beginBlock(p, 'residual', true);
    const attn = b.add(`${p}.attention`, {
      op: 'attention', dim, nHead, nKvHead: nHead, headDim, causal: false, padding: true,
      qkv: { kind: 'separate', q: q.weight, k: k.weight, v: v.weight, qBias: q.bias, kBias: k.bias, vBias: v.bias },
      out: { weight: o.weight, bias: o.bias, layout: 'out_in' },
    });
    b.add(`${p}.add_attn`, { op: 'add' }, [x, attn]);
    const h = b.add(`${p}.attention.output.LayerNorm`, ln(`${p}.attention.output.LayerNorm`));
    b.add(`${p}.intermediate.dense`, { op: 'linear', ...up, layout: 'out_in' });
    b.add(`${p}.intermediate.act`, { op: 'activation', fn });
    const m = b.add(`${p}.output.dense`, { op: 'linear', ...down, layout: 'out_in' });
    b.add(`${p}.add_ffn`, { op: 'add' }, [h, m]);
    b.add(`${p}.output.LayerNorm`, ln(`${p}.output.LayerNorm`));
    b.endBlock();
  }
  const aliases: Record<string, string> = {};
  let what = 'BertModel (last hidden state)';
  const mlm = ctx.modules.has('cls.predictions.transform.dense');
  const pooler = ctx.modules.has(`${base}pooler.dense`);
  if (mlm) {
    what = 'BertForMaskedLM';
    b.beginBlock('cls.predictions', 'head');
    b.add('cls.predictions.transform.dense', { op: 'linear', ...lin('cls.predictions.transform.dense', dim, dim), layout: 'out_in' });
    b.add('cls.predictions.transform.act', { op: 'activation', fn });
    b.add('cls.predictions.transform.LayerNorm', ln('cls.predictions.transform.LayerNorm'));
    const dec = ctx.byName.get('cls.predictions.decoder.weight');
    if (!dec) {
      aliases['cls.predictions.decoder.weight'] = wte.name;
      assumptions.push(`MLM decoder tied to ${wte.name}`);
    }
    // The decoder's bias is cls.predictions.bias (HF ties decoder.bias to it; either may be saved).
    const bias = ctx.byName.has('cls.predictions.bias') ? 'cls.predictions.bias' : ctx.byName.has('cls.predictions.decoder.bias') ? 'cls.predictions.decoder.bias' : undefined;
    if (bias === 'cls.predictions.bias' && ctx.byName.has('cls.predictions.decoder.bias')) ignored.push('cls.predictions.decoder.bias');
    b.add('cls.predictions.decoder', { op: 'linear', weight: 'cls.predictions.decoder.weight', bias, inFeatures: dim, outFeatures: vocab, layout: 'out_in' });
    b.endBlock();
    if (pooler) ignored.push(`${base}pooler.dense.weight`, `${base}pooler.dense.bias`);
  } else if (pooler) {
    b.beginBlock(`${base}pooler`, 'block');
    b.add(`${base}pooler.first_token`, { op: 'select_token', index: 0 });
    b.add(`${base}pooler.dense`, { op: 'linear', ...lin(`${base}pooler.dense`, dim, dim), layout: 'out_in' });
    b.add(`${base}pooler.act`, { op: 'activation', fn: 'tanh' });
    b.endBlock();
    what = 'BertModel (pooled output)';
    const cls = asLinear(ctx.modules.get('classifier'));
    if (cls) {
      what = `BertForSequenceClassification, ${cls.outFeatures} labels`;
      b.beginBlock('classifier', 'head');
      b.add('classifier', { op: 'linear', ...lin('classifier', dim), layout: 'out_in' });
      b.endBlock();
    }
  }
  if (problems.length) return fail('bert', problems.slice(0, 6).join('; '));
  return finish(ctx, 'bert', {
    description: `BERT encoder (${what}), ${nLayer} layers, width ${dim}, ${nHead} heads, vocabulary ${vocab}, ${wpe.shape[0]} positions`,
    input: { kind: 'tokens', shape: [wpe.shape[0]], vocabSize: vocab },
    nodes: b.nodes,
    output: b.current,
    blocks: b.blocks,
    aliases,
    ignored,
    assumptions,
  });
};
