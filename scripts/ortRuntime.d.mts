// Types of scripts/ortRuntime.mjs, for test/unit/vsix.test.ts.
export type Target = 'linux-x64' | 'linux-arm64' | 'darwin-arm64' | 'darwin-x64' | 'win32-x64' | 'win32-arm64';
export const TARGETS: Record<Target, { native: string | null; files: string[] }>;
export const BUDGETS: Record<Target | 'universal', { vsix: number; runtime: number }>;
export const RUNTIME_DIR: string;
export function hostTarget(): Target | 'universal';
export function runtimeFiles(target: Target | 'universal', nodeModules: string): { from: string; to: string; bytes: number }[];
