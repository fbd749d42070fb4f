// What loading a checkpoint with Python's pickle would do: the globals it names, classified,
// and the calls it would make. Produced by the pickle reader (formats/pickleRisk.ts), shown by
// the CLI and the editor. Nothing is ever executed to find this out.

export interface RiskGlobal {
  /** Qualified name as Python 3 resolves it (`builtins.eval` for `__builtin__.eval`). */
  name: string;
  /** `module name` as written in the pickle, when it differs from `name`. */
  written?: string;
  risk: 'tensor' | 'data' | 'unknown' | 'dangerous';
}

export interface RiskCall {
  /** What would be called (a global's name, or a description of an inert callable). */
  callable: string;
  /** The arguments as Python-like text, bounded. */
  args: string;
  /** 'dangerous': a deny-listed callable; 'unknown': code this reader knows nothing about. */
  severity: 'dangerous' | 'unknown';
  /** The opcode that would make the call. */
  via: 'REDUCE' | 'INST' | 'OBJ' | 'BUILD';
  /** Where (e.g. `archive/data.pkl`). */
  where: string;
}

export interface RiskReport {
  /**
   * 'dangerous': names or calls a code-running callable; 'calls-unknown': would call code of
   * classes or functions this reader does not know; 'unknown-classes': instantiates unknown
   * classes (their `__setstate__` etc. would run); 'data-only': only the torch allow-list and
   * known plain-data classes (loads under weights_only with those classes allowed).
   */
  verdict: 'dangerous' | 'calls-unknown' | 'unknown-classes' | 'data-only';
  globals: RiskGlobal[];
  calls: RiskCall[];
  /** Calls not listed because of the cap. */
  callsNotListed: number;
}

