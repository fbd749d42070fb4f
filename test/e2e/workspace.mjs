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
export const RUNS = join(REPO, 'test', 'fixtures', 'runs');
/** The checkpoint the live-runs cases write into runs/live while it is watched. */
export const NEXT_LIVE_CHECKPOINT = join(RUNS, 'run_seed0', 'step_0015.safetensors');

export function makeWorkspace(dir) {
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(DEMO)) if (/\.(safetensors|pt|ckpt)$/.test(f)) copyFileSync(join(DEMO, f), join(dir, f));
  copyFileSync(join(DEMO, 'mlp_seed0.pt'), join(dir, 'pytorch_model.bin'));
  // A GGUF and the safetensors it was quantized from (test/fixtures/gguf/make_quant_error_fixture.py).
  for (const f of ['tiny_llama.gguf', 'tiny_llama.safetensors', 'tiny_llama.expected.json']) copyFileSync(join(REPO, 'test', 'fixtures', 'gguf', f), join(dir, f));
  mkdirSync(join(dir, 'data'), { recursive: true });
  copyFileSync(join(REPO, 'demo', 'data', 'digits.npz'), join(dir, 'data', 'digits.npz'));
  copyFileSync(join(REPO, 'demo', 'data', 'digits_images.npz'), join(dir, 'data', 'digits_images.npz'));
  copyFileSync(join(REPO, 'demo', 'eval.expected.json'), join(dir, 'eval.expected.json'));
  // Pickles holding Python objects (test/fixtures/make_object_fixtures.py): a malicious one, an
  // argparse.Namespace + numpy one, a TorchScript archive.
  const objects = join(REPO, 'test', 'fixtures', 'objects');
  mkdirSync(join(dir, 'kinds'), { recursive: true });
  copyFileSync(join(objects, 'malicious', 'nested_containers.pt'), join(dir, 'risk-nested.pt'));
  copyFileSync(join(objects, 'numpy_namespace.pt'), join(dir, 'objects-namespace.pt'));
  copyFileSync(join(objects, 'scripted.pt'), join(dir, 'torchscript-scripted.pt'));
  // Issue #12's other kinds: a torch.export archive, an npz with text values and a longdouble
  // array (test/fixtures/make_array_fixtures.py), broadcast, sparse, quantized and packed
  // (quint4x2) tensors; each beside the values torch/numpy load from it (.expected.json).
  for (const f of ['exported.pt2', 'broadcast.pt', 'quantized_sparse.pt', 'quint4x2.pt']) {
    for (const x of [f, `${f}.expected.json`]) copyFileSync(join(objects, x), join(dir, 'kinds', x));
  }
  for (const x of ['npz_text_longdouble.npz', 'npz_text_longdouble.npz.expected.json']) copyFileSync(join(REPO, 'test', 'fixtures', 'arrays', x), join(dir, 'kinds', x));
  // PyTorch ≤ 0.1.9's tar format (test/fixtures/make_legacy_tar_fixtures.py), beside torch.load's
  // values; named .t7, as torch.save users named files then (pytorch-cifar's ckpt.t7 still is).
  for (const [from, to] of [['views.pt', 'legacy_tar_views.t7'], ['views.pt.expected.json', 'legacy_tar_views.t7.expected.json']]) {
    copyFileSync(join(REPO, 'test', 'fixtures', 'legacy_tar', from), join(dir, 'kinds', to));
  }
  // A Llama-style model with its config.json, held-out text beside its tokenizer.json, and
  // transformers' validation loss (demo/train_kjv_llama.py).
  mkdirSync(join(dir, 'kjv'), { recursive: true });
  for (const f of ['model.safetensors', 'config.json']) copyFileSync(join(DEMO, 'kjv_llama_seed0', f), join(dir, 'kjv', f));
  for (const f of ['val.txt', 'tokenizer.json']) copyFileSync(join(REPO, 'demo', 'data', 'kjv', f), join(dir, 'kjv', f));
  copyFileSync(join(REPO, 'demo', 'kjv_llama.expected.json'), join(dir, 'kjv', 'expected.json'));
  // Training runs (test/fixtures/runs/make_runs_fixtures.py): runs/live holds the first three
  // checkpoints of seed 0 (the cases add the fourth while the runs view watches), runs/seed1 all
  // of seed 1 (.pt files with global_step).
  for (const [from, to, take] of [['run_seed0', 'live', 3], ['run_seed1', 'seed1', Infinity]]) {
    const src = join(RUNS, from);
    mkdirSync(join(dir, 'runs', to), { recursive: true });
    for (const f of readdirSync(src).sort().slice(0, take)) copyFileSync(join(src, f), join(dir, 'runs', to, f));
  }
  // An SGD run for the dynamics that follow a watched run (test/fixtures/dynamics, made by
  // make_dynamics_fixtures.py), with its data: the first three checkpoints, and the fourth
  // beside them for the case to add.
  const dyn = join(REPO, 'test', 'fixtures', 'dynamics');
  mkdirSync(join(dir, 'dynamics', 'sgd'), { recursive: true });
  for (const f of readdirSync(join(dyn, 'runs', 'sgd')).sort().slice(0, 4)) copyFileSync(join(dyn, 'runs', 'sgd', f), join(dir, 'dynamics', f.endsWith('0200.safetensors') ? '' : 'sgd', f));
  copyFileSync(join(dyn, 'runs_data.npz'), join(dir, 'dynamics', 'runs_data.npz'));
  // A set of one architecture for the basins case: the two demo MLPs and seed 0's initialisation.
  mkdirSync(join(dir, 'sets'), { recursive: true });
  for (const f of ['mlp_seed0.safetensors', 'mlp_seed1.safetensors', 'mlp_seed0_init.pt']) copyFileSync(join(DEMO, f), join(dir, 'sets', f));
  return dir;
}
