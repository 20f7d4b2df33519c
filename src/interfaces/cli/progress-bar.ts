/** A one-line status with a progress bar: redrawn in place on a terminal, printed only on change elsewhere. */

/** `[##########----------]  50%` for a fraction from 0 to 1. */
export function progressBar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

/** A status line under a log of messages. */
export class StatusLine {
  private current = '';
  private printedCoarse = '';

  constructor(private readonly stream: NodeJS.WriteStream) {}

  /** Shows `fraction` and `label` on the status line. Off a terminal, prints at most one line per 10 %. */
  progress(fraction: number, label: string): void {
    const text = `${progressBar(fraction)}  ${label}`;
    if (this.stream.isTTY) {
      this.current = text.slice(0, Math.max(20, (this.stream.columns || 80) - 1));
      this.stream.write(`\r\x1b[2K${this.current}`);
      return;
    }
    const coarse = `${Math.floor(fraction * 10)} ${label.split(' ')[0]}`;
    if (coarse !== this.printedCoarse) {
      this.printedCoarse = coarse;
      this.stream.write(`${text}\n`);
    }
  }

  /** Prints a message above the status line. */
  log(message: string): void {
    if (this.stream.isTTY && this.current) this.stream.write(`\r\x1b[2K${message}\n${this.current}`);
    else this.stream.write(`${message}\n`);
  }

  /** Clears the status line for good. */
  done(): void {
    if (this.stream.isTTY && this.current) this.stream.write('\r\x1b[2K');
    this.current = '';
  }
}
