// Reading an analysis job's JSON params with errors that say which field is wrong (the params
// come from the extension host, or from a test; they are never trusted).
import type { JsonValue } from '../protocol';

export type Params = Record<string, JsonValue>;

export class ParamsError extends Error {
  constructor(kind: string, message: string) {
    super(`${kind}: ${message}`);
    this.name = 'ParamsError';
  }
}

export class ParamReader {
  constructor(
    private readonly kind: string,
    private readonly p: Params,
  ) {}

  path(key: string): string {
    const v = this.p[key];
    if (typeof v !== 'string' || v.length === 0) throw new ParamsError(this.kind, `"${key}" must be a file path`);
    return v;
  }

  /** A non-empty string that is a name, not a path (a tensor name). */
  text(key: string): string {
    const v = this.p[key];
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new ParamsError(this.kind, `"${key}" must be a name`);
    return v;
  }

  optPath(key: string): string | undefined {
    return this.p[key] === undefined || this.p[key] === null ? undefined : this.path(key);
  }

  paths(key: string): string[] {
    const v = this.p[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x.length > 0)) throw new ParamsError(this.kind, `"${key}" must be a list of paths`);
    return v as string[];
  }

  optInt(key: string, min: number, max: number): number | undefined {
    const v = this.p[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ParamsError(this.kind, `"${key}" must be a whole number from ${min} to ${max}`);
    return v;
  }

  optNumber(key: string, min: number, max: number): number | undefined {
    const v = this.p[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new ParamsError(this.kind, `"${key}" must be a number from ${min} to ${max}`);
    return v;
  }

  optBool(key: string): boolean | undefined {
    const v = this.p[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw new ParamsError(this.kind, `"${key}" must be true or false`);
    return v;
  }

  optOneOf<const T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.p[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new ParamsError(this.kind, `"${key}" must be one of ${values.join(', ')}`);
    return v as T;
  }
}
