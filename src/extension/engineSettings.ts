// The forward engine as the user set it: checkpointLens.backend and the cores onnxruntime may use
// (checkpointLens.onnxruntimeThreads), sent with every job so the worker applies a change at once.
import * as vscode from 'vscode';
import type { WorkerAnalysisRequest } from '../analysis/protocol';

export type EngineSettings = Pick<WorkerAnalysisRequest, 'backend' | 'threads'>;

export function engineSettings(): EngineSettings {
  const config = vscode.workspace.getConfiguration('checkpointLens');
  const threads = config.get<number>('onnxruntimeThreads', 0);
  return {
    backend: config.get<EngineSettings['backend']>('backend', 'auto'),
    // 0 (or anything but a positive whole number): every core, or CKPT_LENS_ORT_THREADS when set.
    threads: Number.isInteger(threads) && threads > 0 ? Math.min(threads, 1024) : undefined,
  };
}
