// The Hugging Face token and endpoint for remote checkpoints. The token lives in VS Code's secret
// storage (set and cleared by two commands, never logged or shown); without one, the HF_TOKEN
// environment variable or huggingface-cli's token file applies, as in the CLI. The analysis
// workers get both through their environment, and the library sends the token to the endpoint's
// origin only (src/analysis/io/hub.ts, httpTransport.ts). VS Code's proxy settings reach them the
// same way: its own proxy support patches this thread's modules, not the workers'.
import * as vscode from 'vscode';
import type { RemoteOptions } from '../analysis/io/hub';
import type { WorkerHost } from './workerHost';

const SECRET = 'checkpointLens.hubToken';

export class HubAuth {
  private token: string | undefined;
  /** Settles once the stored token has been read (Hub calls wait for it). */
  ready: Promise<void> = Promise.resolve();

  /** Registers setHubToken / clearHubToken and starts reading the stored token; workers restart on change. */
  static register(context: vscode.ExtensionContext, worker: WorkerHost): HubAuth {
    const auth = new HubAuth();
    const renew = (): void => worker.renewWorkers('the Hugging Face token or endpoint changed');
    auth.ready = Promise.resolve(context.secrets.get(SECRET)).then(
      (t) => {
        auth.token = t || undefined;
        // A worker started before the secret was read has the wrong environment.
        if (auth.token) renew();
      },
      () => undefined,
    );
    context.subscriptions.push(
      context.secrets.onDidChange(async (e) => {
        if (e.key !== SECRET) return;
        auth.token = (await context.secrets.get(SECRET)) || undefined;
        renew();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => (e.affectsConfiguration('checkpointLens.hub.endpoint') || e.affectsConfiguration('http.proxy') || e.affectsConfiguration('http.noProxy')) && renew()),
      // setHubToken(token?) → true once stored (tests pass the token; the UI asks for it, masked).
      vscode.commands.registerCommand('checkpointLens.setHubToken', async (given?: unknown): Promise<boolean> => {
        const token = typeof given === 'string' ? given.trim() : (await vscode.window.showInputBox({
          title: 'Hugging Face Token',
          prompt: `An access token (huggingface.co/settings/tokens) for gated or private repositories. Stored in VS Code's secret storage and sent only to ${new URL(auth.endpoint()).host}.`,
          placeHolder: 'hf_…',
          password: true,
          ignoreFocusOut: true,
          validateInput: (v) => (/^\S+$/.test(v.trim()) ? undefined : 'A token is one word without spaces'),
        }))?.trim();
        if (!token) return false;
        await context.secrets.store(SECRET, token);
        auth.token = token;
        renew();
        if (typeof given !== 'string') void vscode.window.showInformationMessage(`Checkpoint Lens: Hugging Face token saved; it is sent to ${new URL(auth.endpoint()).host} only.`);
        return true;
      }),
      // clearHubToken() → whether a stored token was removed.
      vscode.commands.registerCommand('checkpointLens.clearHubToken', async (): Promise<boolean> => {
        const had = auth.token !== undefined;
        await context.secrets.delete(SECRET);
        auth.token = undefined;
        renew();
        void vscode.window.showInformationMessage(had
          ? `Checkpoint Lens: Hugging Face token removed${process.env.HF_TOKEN ? ' (HF_TOKEN from the environment still applies)' : ''}.`
          : 'Checkpoint Lens: no Hugging Face token was stored.');
        return had;
      }),
    );
    return auth;
  }

  /** The Hub endpoint: the setting, else HF_ENDPOINT, else https://huggingface.co. */
  endpoint(): string {
    const set = vscode.workspace.getConfiguration('checkpointLens.hub').get<string>('endpoint', '').trim();
    return (set || process.env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
  }

  /** Options for Hub calls made in the extension host (listing a repo, resolving a repo id). */
  remoteOptions(): RemoteOptions {
    return { endpoint: this.endpoint(), env: this.proxyEnv(), ...(this.token ? { token: this.token } : {}) };
  }

  /** A new worker's environment: this process's, with the stored token, the endpoint and the proxy. */
  workerEnv(): Record<string, string | undefined> {
    return { ...this.proxyEnv(), HF_ENDPOINT: this.endpoint(), ...(this.token ? { HF_TOKEN: this.token } : {}) };
  }

  /**
   * This process's environment with VS Code's `http.proxy` / `http.noProxy` settings, which win
   * over the proxy variables as in VS Code itself (the library reads the variables: httpTransport.ts).
   */
  private proxyEnv(): Record<string, string | undefined> {
    const env: Record<string, string | undefined> = { ...process.env };
    const http = vscode.workspace.getConfiguration('http');
    const proxy = http.get<string>('proxy', '').trim();
    if (proxy) {
      for (const k of ['http_proxy', 'https_proxy', 'all_proxy', 'ALL_PROXY']) delete env[k];
      env.HTTP_PROXY = env.HTTPS_PROXY = proxy;
    }
    const noProxy = http.get<string[]>('noProxy', []);
    if (Array.isArray(noProxy) && noProxy.length) {
      delete env.no_proxy;
      env.NO_PROXY = noProxy.join(',');
    }
    return env;
  }
}
