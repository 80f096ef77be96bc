import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSandboxApp } from './app.js';
import { SandboxControl } from './control-client.js';
import type { SandboxOptions } from './schemas.js';
import type { SandboxState } from './state.js';

export interface RunningSandbox {
  url: string;
  port: number;
  control: SandboxControl;
  close(): Promise<void>;
}

export interface StartSandboxOptions extends SandboxOptions {
  /** Default 0: a free port chosen by the OS. */
  port?: number;
  /** Default 127.0.0.1; listen on 0.0.0.0 only when asked. */
  host?: string;
}

/** Starts the sandbox on its own HTTP server. `close()` ends keep-alive sockets and pending latency faults too. */
export async function startSandbox(options: StartSandboxOptions = {}): Promise<RunningSandbox> {
  const running = await startSandboxWithState(options);
  return running.sandbox;
}

/** Like `startSandbox`, also handing out the in-process state (for main.ts and benchmarks). */
export async function startSandboxWithState(
  options: StartSandboxOptions = {},
): Promise<{ sandbox: RunningSandbox; state: SandboxState }> {
  const { port = 0, host = '127.0.0.1', ...sandboxOptions } = options;
  const { app, state } = createSandboxApp(sandboxOptions);
  const server = createServer(app);
  // Node closes a keep-alive socket after 5 s idle by default; a client (undici's fetch, got) that reuses
  // it in that instant gets ECONNRESET, seen in CI on a loaded machine. A minute is longer than any pause
  // between calls in tests and benchmarks, and close() ends every connection anyway.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${urlHost(host)}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      state.cancelDelays();
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    });
    return closing;
  };

  return { sandbox: { url, port: address.port, control: new SandboxControl(url), close }, state };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
