#!/usr/bin/env node
// `npm run test:vscode`: the integration suite (test/vscode/suite.ts, bundled to
// out/vscode/suite.js) in an Electron build of VS Code through @vscode/test-electron.
//
// Which VS Code: $VSCODE_EXECUTABLE if set; else @vscode/test-electron's download
// ($VSCODE_VERSION, default 'stable'), which offline falls back to the newest build already
// cached in .vscode-test/. When there is none (no network to update.code.visualstudio.com and
// nothing cached, as on the dev machine), it prints ONE line saying the suite was SKIPPED (not
// run, so not passed) and exits 0. The same suite also runs for real inside code-server in
// `npm run test:e2e`.
// Linux without a display: run it under xvfb-run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadAndUnzipVSCode, runTests } from '@vscode/test-electron';
import { makeWorkspace } from '../e2e/workspace.mjs';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SUITE = path.join(REPO, 'out', 'vscode', 'suite.js');

async function vscodeExecutable() {
  if (process.env.VSCODE_EXECUTABLE) {
    if (!fs.existsSync(process.env.VSCODE_EXECUTABLE)) throw new Error(`VSCODE_EXECUTABLE=${process.env.VSCODE_EXECUTABLE} does not exist`);
    return { path: process.env.VSCODE_EXECUTABLE };
  }
  try {
    return {
      path: await downloadAndUnzipVSCode({
        version: process.env.VSCODE_VERSION || 'stable',
        cachePath: path.join(REPO, '.vscode-test'),
        timeout: 20000,
        // Quiet: the outcome is reported in one line below.
        reporter: { report() {}, error() {} },
      }),
    };
  } catch (e) {
    return { skip: String(e?.message ?? e).split('\n')[0] };
  }
}

async function main() {
  for (const f of [SUITE, path.join(REPO, 'dist', 'extension.js')]) {
    if (!fs.existsSync(f)) throw new Error(`missing ${path.relative(REPO, f)}: run \`npm run build && node scripts/e2e-build.mjs\``);
  }
  const exe = await vscodeExecutable();
  if (exe.skip) {
    console.log(`test:vscode SKIPPED (not run, so not passed): no Electron build of VS Code available (${exe.skip}); set VSCODE_EXECUTABLE=/path/to/code or cache one in .vscode-test/ — the same suite runs inside code-server in npm run test:e2e`);
    return 0;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-lens-vscode-'));
  try {
    const ws = makeWorkspace(path.join(tmp, 'workspace'));
    console.log(`test:vscode: ${exe.path}, workspace ${ws}`);
    await runTests({
      vscodeExecutablePath: exe.path,
      extensionDevelopmentPath: REPO,
      extensionTestsPath: SUITE,
      launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes',
        '--user-data-dir', path.join(tmp, 'user-data'), '--extensions-dir', path.join(tmp, 'extensions')],
    });
    console.log('test:vscode PASSED');
    return 0;
  } catch (e) {
    console.error(`test:vscode FAILED: ${e?.message ?? e}`);
    return 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(`test:vscode FAILED: ${e?.stack ?? e}`);
  process.exit(1);
});
