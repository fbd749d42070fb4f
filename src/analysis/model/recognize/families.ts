// The family registry: one recogniser module per family, tried in this order. Most specific
// first: a ResNet is also a CNN, and everything with Linear layers looks like an MLP. Adding a
// family is one module and one line here (and its name in ir.ts' Family).
import type { Family } from '../ir';
import type { Recognizer } from './common';
import { recognizeCnn } from './cnn';
import { recognizeGpt2 } from './gpt2';
import { recognizeMlp } from './mlp';
import { recognizeResnet } from './resnet';

export interface FamilyModule {
  family: Family;
  /** For messages: "not recognised as <title>". */
  title: string;
  recognize: Recognizer;
}

export const FAMILY_MODULES: FamilyModule[] = [
  { family: 'gpt2', title: 'a GPT-2-style decoder', recognize: recognizeGpt2 },
  { family: 'resnet', title: 'a torchvision ResNet', recognize: recognizeResnet },
  { family: 'cnn', title: 'a plain CNN', recognize: recognizeCnn },
  { family: 'mlp', title: 'an MLP', recognize: recognizeMlp },
];
