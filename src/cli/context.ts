// What every daemon-talking command needs: the global options and a client, created on first use so that
// `--help` and `validate` never load gRPC.
import type { Command } from 'commander';
import type { BerthClient } from './client.js';
import type { OutputFormat } from './output.js';

export const DEFAULT_SOCKET = '/run/berth/api.sock';

export interface GlobalOptions {
  socket: string;
  output: OutputFormat;
}

export function globalOptions(cmd: Command): GlobalOptions {
  const opts = cmd.optsWithGlobals<{ socket?: string; output?: OutputFormat }>();
  return { socket: opts.socket ?? DEFAULT_SOCKET, output: opts.output ?? 'table' };
}

let client: BerthClient | undefined;

export async function connect(cmd: Command): Promise<{ client: BerthClient; options: GlobalOptions }> {
  const options = globalOptions(cmd);
  if (!client) {
    const { BerthClient } = await import('./client.js');
    // One-shot unary commands skip grpc-js: see ./unary-h2.ts.
    client = BerthClient.connect({ socketPath: options.socket, unary: 'http2' });
  }
  return { client, options };
}

export function closeClient(): void {
  client?.close();
  client = undefined;
}
