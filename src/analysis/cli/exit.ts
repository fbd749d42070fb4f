// Exiting without losing output: process.exit() drops whatever a pipe has not taken yet (a
// slow reader such as `| jq` gets the first 64 KiB and a clean exit code). Wait until stdout
// and stderr have handed every byte to the OS, then exit.
export function exitWhenFlushed(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    // A write callback runs after every earlier write to the stream has been flushed.
    if (stream.destroyed || !stream.writable) done();
    else stream.write('', () => done());
  }
}

/** Text from a file made safe for a terminal: control characters (escape sequences) shown as \xNN. */
export function terminalSafe(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
