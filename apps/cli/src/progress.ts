import { Presets, SingleBar } from 'cli-progress';
import type { CliIo } from './context.js';

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update: () => undefined, stop: () => undefined };

/**
 * A progress bar on stderr, only when stderr is a terminal and the output is not --json: in a pipe,
 * a log file or a script the bar would be noise (cli-progress README, "TTY").
 */
export function startProgress(io: CliIo, label: string, enabled: boolean): Progress {
  if (!enabled || !io.stderr.isTTY) return NO_PROGRESS;
  const bar = new SingleBar(
    {
      stream: io.stderr,
      format: `${label} [{bar}] {value}/{total} ({percentage}%)  eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}

/** True when a bar is drawn on the same terminal stdout writes to: item lines then wait for the end. */
export function barSharesTerminal(io: CliIo, enabled: boolean): boolean {
  return enabled && Boolean(io.stderr.isTTY) && Boolean(io.stdout.isTTY);
}
