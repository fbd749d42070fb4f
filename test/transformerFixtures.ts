// The transformer fixtures (test/fixtures/transformers, made by make_transformer_fixtures.py):
// which family each is, and its batch.npz (inputs, transformers' logits and loss).
import { type ArrayData, listArrays } from '../src/analysis/data/arrays';
import { fixture } from './helpers';

export const TRANSFORMER_FIXTURES: Record<string, string> = {
  llama_gqa: 'llama',
  llama_tied_llama3: 'llama',
  llama_linear_mqa: 'llama',
  qwen2: 'llama',
  mistral: 'llama',
  neox_parallel: 'gpt_neox',
  neox_sequential: 'gpt_neox',
  gpt2: 'gpt2',
  tl_gpt2: 'transformer_lens',
  tl_attn_only: 'transformer_lens',
  bert_mlm: 'bert',
  bert_cls: 'bert',
  vit_hf: 'vit',
  vit_torchvision: 'vit',
};

export async function readBatch(name: string): Promise<Map<string, ArrayData>> {
  const f = await listArrays(fixture('transformers', name, 'batch.npz'));
  const out = new Map<string, ArrayData>();
  for (const k of f.names.keys()) out.set(k, await f.read(k));
  await f.close();
  return out;
}
