// Our side of bench/llc-bench.mjs: SGLD steps per second of one chain (one thread, the engine
// the estimate uses: XNNPACK float32 on tfjs-wasm) on the Fashion-MNIST MLP, the float64 JS
// engine for comparison, and the time of a whole estimate (4 chains × 200 draws, 2 threads).
import { join } from 'node:path';
import { estimateLlc, loadTask } from '../src/analysis/dynamics/llc';
import { runChain } from '../src/analysis/dynamics/llcChain';
import { chainEngine, engineFallbackWarning } from '../src/analysis/dynamics/llcPool';
import { DenseNet, type DenseNetSpec } from '../src/analysis/dynamics/mlpNet';
import { XnnDenseNet } from '../src/analysis/dynamics/xnnDense';
import { initBackend } from '../src/analysis/model/backend';

async function main(): Promise<void> {
  const [ckpt, data, batch, steps, workerDir] = process.argv.slice(2);
  const bs = Number(batch);
  await initBackend('wasm', { wasmDir: workerDir });
  const task = await loadTask({ checkpoint: ckpt, data });
  // The estimate below must run on XNNPACK, the engine it measures: one line and exit otherwise.
  const workerScript = join(workerDir, 'llcWorker.js');
  const { engine } = chainEngine(task.spec, workerScript);
  if (engine !== 'xnnpack') throw new Error(engineFallbackWarning(engine, workerScript) ?? `the ${engine} engine, not XNNPACK`);
  const s = { epsilon: 1e-5, nbeta: bs / Math.log(bs), gamma: 100, weightDecay: 0, noiseLevel: 1, batchSize: bs, seed: 0 };
  // Steps per wall-clock second, and per CPU second of this (single-threaded) process: on a
  // machine other jobs load, the CPU time is the fairer comparison (PyTorch's side reports both).
  const rate = (net: DenseNet | XnnDenseNet, n: number): { wall: number; cpu: number } => {
    runChain(task.spec, task.wStar, task.data, { ...s, draws: 3, burnIn: 0 }, 0, {}, net);
    const t = performance.now();
    const c = process.cpuUsage();
    const r = runChain(task.spec, task.wStar, task.data, { ...s, draws: n, burnIn: 0 }, 0, {}, net);
    const cpu = process.cpuUsage(c);
    return { wall: r.steps / ((performance.now() - t) / 1000), cpu: r.steps / ((cpu.user + cpu.system) / 1e6) };
  };
  const spec = task.spec as DenseNetSpec;
  const xnn = rate(new XnnDenseNet(spec), Number(steps));
  const f64 = rate(new DenseNet(spec), Math.max(5, Math.floor(Number(steps) / 4)));
  const stepsPerSecond = xnn.wall;
  const stepsPerCpuSecond = xnn.cpu;
  const float64StepsPerSecond = f64.wall;
  const t = performance.now();
  const est = await estimateLlc({ checkpoint: ckpt, data, hyperparameters: { epsilon: 1e-5, gamma: 100, chains: 4, draws: 200, burnIn: 0, batchSize: bs, seed: 0 }, workerScript });
  const llcSeconds = (performance.now() - t) / 1000;
  process.stdout.write(JSON.stringify({ stepsPerSecond, stepsPerCpuSecond, float64StepsPerSecond, llc: est.llc, llcSeconds, threads: est.threads, engine: est.engine.name, parameters: task.spec.size }) + '\n');
}
// One line on failure (tfjs-wasm not found, …): the bench prints it as the cause.
main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).message ?? e}\n`);
  process.exit(1);
});
