// The op registry: every IR op by name. A graph node is one of these ops plus its id and inputs.
import type { NodeBase, OpModule } from './base';
import { type ActivationOp, activation } from './activation';
import { type AddOp, type MulOp, add, mul } from './add';
import { type BatchNormOp, batchnorm } from './batchnorm';
import { type CausalSelfAttentionOp, causalSelfAttention } from './causalSelfAttention';
import { type Conv2dOp, conv2d } from './conv2d';
import { type EmbeddingOp, type PositionEmbeddingOp, embedding, positionEmbedding } from './embedding';
import { type FlattenOp, flatten } from './flatten';
import { type LayerNormOp, layernorm } from './layernorm';
import { type LinearOp, linear } from './linear';
import { type AdaptiveAvgPoolOp, type Pool2dOp, adaptiveAvgPool2d, pool2d } from './pool2d';
import { type AttentionOp, attention } from './attention';
import { type RmsNormOp, rmsnorm } from './rmsnorm';
import { type ClassTokenOp, type SelectTokenOp, type ToSequenceOp, type TokenTypeEmbeddingOp, classToken, selectToken, toSequence, tokenTypeEmbedding } from './sequence';

export type NodeOp =
  | LinearOp | Conv2dOp | BatchNormOp | LayerNormOp | ActivationOp | AddOp | MulOp | Pool2dOp
  | AdaptiveAvgPoolOp | FlattenOp | EmbeddingOp | PositionEmbeddingOp | CausalSelfAttentionOp
  | AttentionOp | RmsNormOp | TokenTypeEmbeddingOp | ToSequenceOp | ClassTokenOp | SelectTokenOp;

export type OpName = NodeOp['op'];

export type Node = NodeOp & NodeBase;

const OPS: { [K in OpName]: OpModule<Extract<NodeOp, { op: K }>> } = {
  linear,
  conv2d,
  batchnorm,
  layernorm,
  activation,
  add,
  mul,
  maxpool2d: pool2d,
  avgpool2d: pool2d,
  adaptive_avgpool2d: adaptiveAvgPool2d,
  flatten,
  embedding,
  position_embedding: positionEmbedding,
  causal_self_attention: causalSelfAttention,
  attention,
  rmsnorm,
  token_type_embedding: tokenTypeEmbedding,
  to_sequence: toSequence,
  class_token: classToken,
  select_token: selectToken,
};

/** The module of a node's op. */
export function opOf(n: Node): OpModule<Node> {
  return OPS[n.op] as unknown as OpModule<Node>;
}
