import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { waitFor } from '@closeloop/test-support';

/** A command running as PID 1 of its own PID namespace, the way a container's first process runs. */
export interface NamespacedProcess {
  /** Everything the command wrote to stdout and stderr so far. */
  output(): string;
  /** The command's pid as seen from outside the namespace (inside it is 1). */
  pid1(): Promise<number>;
  /** Resolves when the command has exited; unshare exits with the command's own status. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** For clean-up after a failed test: SIGKILL, which even a namespace's init cannot ignore. */
  kill(): void;
}

/**
 * `unshare --pid --fork --mount-proc <argv>` (util-linux; needs root): the command becomes PID 1 of
 * a new PID namespace. PID 1 is special the same way inside a container: the kernel delivers it
 * only the signals it has a handler for, and when it exits every other process in the namespace is
 * killed. `--kill-child` takes the command down with unshare if the test process dies.
 */
export function startAsPid1(
  argv: string[],
  options: { cwd: string; env: Record<string, string> },
): NamespacedProcess {
  const unshare: ChildProcess = spawn(
    'unshare',
    ['--pid', '--fork', '--mount-proc', '--kill-child', '--', ...argv],
    { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const chunks: string[] = [];
  unshare.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  unshare.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  const exited = once(unshare, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));

  let found: Promise<number> | undefined;
  const pid1 = (): Promise<number> =>
    (found ??= waitFor(
      () => {
        // unshare --fork has exactly one child: the command, which is PID 1 inside.
        const children = readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8');
        const pid = Number(children.trim().split(/\s+/)[0]);
        if (!Number.isInteger(pid) || pid <= 0) return undefined;
        // NSpid lists the pid in each namespace, outermost first: the last one must be 1.
        const nsPids = /^NSpid:\s+(.+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
        return nsPids?.trim().split(/\s+/).at(-1) === '1' ? pid : undefined;
      },
      { description: "the namespace's PID 1", timeoutMs: 10_000 },
    ));

  return {
    output: () => chunks.join(''),
    pid1,
    exited,
    kill: () => {
      if (unshare.exitCode === null && unshare.signalCode === null) unshare.kill('SIGKILL');
    },
  };
}
