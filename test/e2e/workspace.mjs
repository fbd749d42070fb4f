// The workspace the integration (test/vscode) and e2e (test/e2e) suites open: copies of the demo
// checkpoints, plus pytorch_model.bin (a copy of mlp_seed0.pt: *.bin opens with Checkpoint
// Lens only on request, so it exercises "Open with Checkpoint Lens"), the demo dataset
// (data/digits.npz) and PyTorch's loss/accuracy on it (eval.expected.json, from
// demo/eval_reference.py) for the evaluate command.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEMO = join(REPO, 'demo', 'checkpoints');

export function makeWorkspace(dir) {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(DEMO)) if (/\.(safetensors|pt|ckpt)$/.test(f)) copyFileSync(join(DEMO, f), join(dir, f));
  copyFileSync(join(DEMO, 'mlp_seed0.pt'), join(dir, 'pytorch_model.bin'));
  mkdirSync(join(dir, 'data'), { recursive: true });
  copyFileSync(join(REPO, 'demo', 'data', 'digits.npz'), join(dir, 'data', 'digits.npz'));
  copyFileSync(join(REPO, 'demo', 'eval.expected.json'), join(dir, 'eval.expected.json'));
  return dir;
}
