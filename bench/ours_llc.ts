// Our side of bench/llc-bench.mjs: SGLD steps per second of one chain (one thread) on the
// Fashion-MNIST MLP, and the time of a whole estimate (4 chains × 200 draws, 2 threads).
import { join } from 'node:path';
import { estimateLlc, loadTask } from '../src/analysis/dynamics/llc';
import { runChain } from '../src/analysis/dynamics/llcChain';

async function main(): Promise<void> {
  const [ckpt, data, batch, steps, workerDir] = process.argv.slice(2);
  const bs = Number(batch);
  const task = await loadTask({ checkpoint: ckpt, data });
  const s = { epsilon: 1e-5, nbeta: bs / Math.log(bs), gamma: 100, weightDecay: 0, noiseLevel: 1, batchSize: bs, seed: 0 };
  runChain(task.spec, task.wStar, task.data, { ...s, draws: 3, burnIn: 0 }, 0);
  let t = performance.now();
  const r = runChain(task.spec, task.wStar, task.data, { ...s, draws: Number(steps), burnIn: 0 }, 0);
  const chainSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  const est = await estimateLlc({ checkpoint: ckpt, data, hyperparameters: { epsilon: 1e-5, gamma: 100, chains: 4, draws: 200, burnIn: 0, batchSize: bs, seed: 0 }, workerScript: join(workerDir, 'llcWorker.js') });
  const llcSeconds = (performance.now() - t) / 1000;
  process.stdout.write(JSON.stringify({ steps: r.steps, seconds: chainSeconds, stepsPerSecond: r.steps / chainSeconds, llc: est.llc, llcSeconds, threads: est.threads, parameters: task.spec.size }) + '\n');
}
void main();
