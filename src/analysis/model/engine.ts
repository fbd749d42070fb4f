// Which engine runs forward passes: onnxruntime (native, multi-threaded; chosen by initBackend
// when it loads) or tfjs. Gradient work always runs on tfjs (createModel's engine: 'tfjs').
import { type Ort, loadOrt } from './onnx/loadOrt';

export type ForwardEngine = 'onnxruntime' | 'tfjs';

let engine: ForwardEngine = 'tfjs';

export function setForwardEngine(e: ForwardEngine): void {
  engine = e;
}

export function forwardEngine(): ForwardEngine {
  return engine;
}

/** onnxruntime when it is the forward engine (and loads), else undefined: use tfjs. */
export function ortForForward(): Ort | undefined {
  return engine === 'onnxruntime' ? loadOrt() : undefined;
}
