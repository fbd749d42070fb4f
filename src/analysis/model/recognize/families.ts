// The family registry: one recogniser module per family, tried in this order. Most specific
// first: a ResNet is also a CNN, and everything with Linear layers looks like an MLP. Adding a
// family is one module and one line here (and its name in ir.ts' Family).
import type { Family } from '../ir';
import type { Recognizer } from './common';
import { recognizeCnn } from './cnn';
import { recognizeGpt2 } from './gpt2';
import { recognizeMlp } from './mlp';
import { recognizeResnet } from './resnet';
import { recognizeBert } from './bert';
import { recognizeGptNeox } from './gptNeox';
import { recognizeLlama } from './llama';
import { recognizeTransformerLens } from './transformerLens';
import { recognizeVit } from './vit';

export interface FamilyModule {
  family: Family;
  /** For messages: "not recognised as <title>". */
  title: string;
  recognize: Recognizer;
}

export const FAMILY_MODULES: FamilyModule[] = [
  { family: 'gpt2', title: 'a GPT-2-style decoder', recognize: recognizeGpt2 },
  { family: 'llama', title: 'a Llama-family decoder', recognize: recognizeLlama },
  { family: 'gpt_neox', title: 'a GPT-NeoX decoder', recognize: recognizeGptNeox },
  { family: 'transformer_lens', title: 'a TransformerLens HookedTransformer', recognize: recognizeTransformerLens },
  { family: 'bert', title: 'a BERT encoder', recognize: recognizeBert },
  { family: 'vit', title: 'a vision transformer', recognize: recognizeVit },
  { family: 'resnet', title: 'a torchvision ResNet', recognize: recognizeResnet },
  { family: 'cnn', title: 'a plain CNN', recognize: recognizeCnn },
  { family: 'mlp', title: 'an MLP', recognize: recognizeMlp },
];
