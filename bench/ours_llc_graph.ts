// Our side of the graph-network part of bench/llc-bench.mjs: SGLD steps per second of one chain
// (one thread, the engine estimates use for non-MLP networks: the tfjs executor's gradients on
// tfjs-wasm) on the ResNet fixture, BatchNorm in training mode as devinterp samples.
import { loadTask } from '../src/analysis/dynamics/llc';
import { runChain } from '../src/analysis/dynamics/llcChain';
import { GraphNet, type GraphNetSpec } from '../src/analysis/dynamics/graphNet';
import { initBackend } from '../src/analysis/model/backend';

async function main(): Promise<void> {
  const [ckpt, data, batch, steps, workerDir] = process.argv.slice(2);
  const bs = Number(batch);
  await initBackend('wasm', { wasmDir: workerDir });
  const task = await loadTask({ checkpoint: ckpt, data });
  const spec = task.spec as GraphNetSpec;
  const net = new GraphNet(spec, task.wStar);
  const s = { epsilon: 1e-5, nbeta: bs / Math.log(bs), gamma: 100, weightDecay: 0, noiseLevel: 1, batchSize: bs, seed: 0 };
  runChain(spec, task.wStar, task.data, { ...s, draws: 3, burnIn: 0 }, 0, {}, net);
  const t = performance.now();
  const c = process.cpuUsage();
  const r = runChain(spec, task.wStar, task.data, { ...s, draws: Number(steps), burnIn: 0 }, 0, {}, net);
  const cpu = process.cpuUsage(c);
  process.stdout.write(JSON.stringify({ stepsPerSecond: r.steps / ((performance.now() - t) / 1000), stepsPerCpuSecond: r.steps / ((cpu.user + cpu.system) / 1e6), parameters: spec.size }) + '\n');
}
// One line on failure (tfjs-wasm not found, …): the bench prints it as the cause.
main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).message ?? e}\n`);
  process.exit(1);
});
