import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Load for P5: `clients` independent connections, each sending the real `berth.v1.Units/Get` request back
 * to back. Replies are not decoded — the figure is the daemon's, and on a 2-core machine a decoding client
 * would mostly measure itself. All clients share one thread, leaving the other core to berthd.
 *
 * The clients run in a fresh child process, not in the bench's: by P5 the bench process holds every earlier
 * scenario's garbage, and its own major GC pauses (several ms on that heap) would show up as berthd's tail.
 * For the same reason that process gets a young generation big enough for the whole run's garbage
 * (`--max-semi-space-size=64`): with Node's default, its own scavenges — every in-flight call of the four
 * waits through each — were most of the p99 (7 ms against 2.5–3.6 ms with it, same berthd, 2026-12-03).
 */
export async function unitStatusLoad(socket: string, unit: string, clients: number, durationMs: number, warmup: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--max-semi-space-size=64', fileURLToPath(import.meta.url), socket, unit, String(clients), String(durationMs), String(warmup)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`the P5 load process exited with ${code}`);
  return JSON.parse(out) as number[];
}

async function runLoad(socket: string, unit: string, clients: number, durationMs: number, warmup: number): Promise<number[]> {
  const name = Buffer.from(unit);
  const request = Buffer.concat([Buffer.from([0x0a, name.length]), name]); // UnitRequest { string name = 1; }
  const identity = (b: Buffer): Buffer => b;
  const conns = Array.from({ length: clients }, () => new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.enable_channelz': 0 }));
  const call = (c: grpc.Client): Promise<number> => {
    const t = performance.now();
    return new Promise((resolve, reject) => {
      c.makeUnaryRequest('/berth.v1.Units/Get', identity, identity, request, (err, res) => {
        if (err || !res || res.length === 0) reject(err ?? new Error('empty reply'));
        else resolve(performance.now() - t);
      });
    });
  };
  try {
    await Promise.all(conns.map(async (c) => {
      for (let i = 0; i < warmup; i++) await call(c);
    }));
    const latencies: number[] = [];
    const end = performance.now() + durationMs;
    await Promise.all(conns.map(async (c) => {
      while (performance.now() < end) latencies.push(await call(c));
    }));
    return latencies;
  } finally {
    for (const c of conns) c.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [socket, unit, clients, durationMs, warmup] = process.argv.slice(2);
  const latencies = await runLoad(socket!, unit!, Number(clients), Number(durationMs), Number(warmup));
  process.stdout.write(JSON.stringify(latencies));
}
