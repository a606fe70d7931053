import * as grpc from '@grpc/grpc-js';

/**
 * Load for P5: `clients` independent connections, each sending the real `berth.v1.Units/Get` request back
 * to back. Replies are not decoded — the figure is the daemon's, and on a 2-core machine a decoding client
 * would mostly measure itself. All clients share this process's one thread, leaving the other core to berthd.
 */
export async function unitStatusLoad(socket: string, unit: string, clients: number, durationMs: number, warmup: number): Promise<number[]> {
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
