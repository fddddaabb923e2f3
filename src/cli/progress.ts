/**
 * A one-line progress bar on a terminal; on a pipe or a log, one line every `logEvery` seconds, so CI logs
 * and `--json` consumers are not flooded with carriage returns.
 */
export class ProgressBar {
  private lastLog = 0;
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly logEvery = 10,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(fraction: number, text: string): void {
    if (this.tty) {
      const width = 24;
      const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${text}\x1b[K`);
      return;
    }
    const now = Date.now();
    if (now - this.lastLog >= this.logEvery * 1000 || fraction >= 1) {
      this.lastLog = now;
      this.out.write(`${(fraction * 100).toFixed(0).padStart(3)}% ${text}\n`);
    }
  }

  done(text = ''): void {
    if (this.tty) this.out.write(`\r\x1b[K${text}${text ? '\n' : ''}`);
    else if (text) this.out.write(`${text}\n`);
  }
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}
