/** Runs a CLI command in-process and returns its exit code and what it printed to stdout. */
export async function captured(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(' '));
  try {
    const code = await fn();
    return { code, out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}
