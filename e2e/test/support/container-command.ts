import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

interface ComposeService {
  command?: unknown;
  entrypoint?: unknown;
  init?: unknown;
  stop_grace_period?: unknown;
}

/** What a compose service's container runs as its first process, and how long it may take to stop. */
export interface ContainerCommand {
  /** The entrypoint followed by the command, exactly as the container's PID 1 gets them. */
  argv: string[];
  /** The image's WORKDIR: the folder the paths in `argv` are relative to. */
  workdir: string;
  /** compose `init: true`: docker's init runs in front of `argv` and forwards signals to it. */
  init: boolean;
  /** compose `stop_grace_period` in ms (docker's default is 10 s): SIGTERM → SIGKILL. */
  stopGracePeriodMs: number;
}

/**
 * Reads docker-compose.yml and the Dockerfile the way docker does for one service: the service's
 * `entrypoint`/`command` where given, else the image's ENTRYPOINT/CMD. Only the exec (JSON array)
 * form is accepted: the shell form would put `/bin/sh -c` in front as PID 1, which is the kind of
 * wrapper that does not pass SIGTERM on.
 */
export function readContainerCommand(root: string, service: string): ContainerCommand {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
    services?: Record<string, ComposeService>;
  };
  const definition = compose.services?.[service];
  if (!definition) throw new Error(`docker-compose.yml has no service "${service}"`);
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');

  const entrypoint =
    definition.entrypoint !== undefined
      ? execForm(definition.entrypoint, `${service}.entrypoint`)
      : dockerfileInstruction(dockerfile, 'ENTRYPOINT');
  const command =
    definition.command !== undefined
      ? execForm(definition.command, `${service}.command`)
      : dockerfileInstruction(dockerfile, 'CMD');
  const argv = [...(entrypoint ?? []), ...(command ?? [])];
  if (argv.length === 0) throw new Error(`service "${service}" runs nothing`);

  const workdir = /^WORKDIR\s+(\S+)\s*$/m.exec(dockerfile)?.[1] ?? '/';
  return {
    argv,
    workdir,
    init: definition.init === true,
    stopGracePeriodMs: parseDuration(definition.stop_grace_period ?? '10s'),
  };
}

function execForm(value: unknown, where: string): string[] {
  if (Array.isArray(value) && value.every((part) => typeof part === 'string')) return value;
  throw new Error(`${where} must be an exec-form list of strings, got ${JSON.stringify(value)}`);
}

/** The last ENTRYPOINT or CMD of the Dockerfile (the one that counts), in exec form. */
function dockerfileInstruction(dockerfile: string, name: 'ENTRYPOINT' | 'CMD'): string[] | undefined {
  const lines = [...dockerfile.matchAll(new RegExp(`^${name}\\s+(.+)$`, 'gm'))];
  const last = lines.at(-1)?.[1];
  if (last === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new Error(`Dockerfile ${name} must use the exec form ["…"], got: ${last}`);
  }
  return execForm(parsed, `Dockerfile ${name}`);
}

/** Compose durations as this file writes them: `40s`, `1m30s`, `500ms`. */
function parseDuration(value: unknown): number {
  const text = String(value);
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
  let total = 0;
  let rest = text;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    total += Number(match[1]) * (units[match[2] ?? ''] ?? Number.NaN);
    rest = rest.replace(match[0], '');
  }
  if (rest !== '' || Number.isNaN(total)) throw new Error(`unreadable duration "${text}"`);
  return total;
}
