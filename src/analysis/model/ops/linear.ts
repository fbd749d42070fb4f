// nn.Linear (weights [out, in]) and GPT-2's Conv1D ([in, out]): y = x·Wᵀ + b over the last axis.
import { type OpModule, type WeightLayout, fail, matrixAxes, params, ref, refs, storedShape } from './base';
import { dense, denseOnnx, inOutMatrix } from './dense';

export interface LinearOp {
  op: 'linear';
  weight: string;
  bias?: string;
  inFeatures: number;
  outFeatures: number;
  layout: WeightLayout;
}

export const linear: OpModule<LinearOp> = {
  readsUnits: true,
  tensors: (n) => refs(
    ref(n.weight, storedShape(n.layout, n.inFeatures, n.outFeatures), { uniform: n.inFeatures }, { matrix: { bias: n.bias, unitsAreColumns: n.layout === 'in_out' } }),
    ref(n.bias, [n.outFeatures], { uniform: n.inFeatures }),
  ),
  shape(n, [x]) {
    if (x[x.length - 1] !== n.inFeatures) fail(n, `expects ${n.inFeatures} input features, gets shape [${x}]`);
    return [...x.slice(0, -1), n.outFeatures];
  },
  prepare: (n, read) => params({ w: inOutMatrix(read, n.weight, n.layout), b: n.bias === undefined ? undefined : read.tensor(n.bias) }),
  lower: (_n, [x], { params: p, unfused }) => dense(unfused)(x, p.w as never, p.b),
  onnx: (n, [x], ctx) => denseOnnx(ctx, x, ctx.inShapes[0], n.outFeatures, n.weight, n.layout, n.bias),
  permute(n, ctx) {
    const { outAxis, inAxis } = matrixAxes(n.layout);
    ctx.member(n.weight, inAxis, ctx.input());
    const out = ctx.newAxis(n.id, 'units', n.outFeatures);
    ctx.member(n.weight, outAxis, out);
    ctx.member(n.bias, 0, out);
    return out;
  },
};
