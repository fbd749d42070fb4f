// Bundles the test code that runs outside `npm test`:
//   test/vscode/suite.ts  -> out/vscode/suite.js  (loaded by the VS Code extension host:
//                            @vscode/test-electron and code-server's extensionTestsPath)
//   test/csp/cspCheck.ts  -> out/csp/cspCheck.js  (the browser CSP check, uses the real
//                            webview HTML/CSP code and the analysis worker's results)
import * as esbuild from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
};
await Promise.all([
  esbuild.build({ ...common, entryPoints: ['test/vscode/suite.ts'], outfile: 'out/vscode/suite.js', external: ['vscode'] }),
  esbuild.build({ ...common, entryPoints: ['test/csp/cspCheck.ts'], outfile: 'out/csp/cspCheck.js', packages: 'external' }),
]);
