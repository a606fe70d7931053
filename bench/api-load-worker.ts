import { parentPort, workerData } from 'node:worker_threads';
import * as grpc from '@grpc/grpc-js';

/**
 * One load-generating client for P5, run in its own thread so the clients are not all bound to the bench
 * process's one event loop. It sends the real `berth.v1.Units/Get` request and skips decoding the reply: the
 * figure is the daemon's, and a decoding client would measure itself.
 */
interface Job {
  socket: string;
  unit: string;
  durationMs: number;
  warmup: number;
}
const job = workerData as Job;
const client = new grpc.Client(`unix://${job.socket}`, grpc.credentials.createInsecure(), { 'grpc.enable_channelz': 0 });
// UnitRequest { string name = 1; }
const name = Buffer.from(job.unit);
const request = Buffer.concat([Buffer.from([0x0a, name.length]), name]);
const identity = (b: Buffer): Buffer => b;

function call(): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/berth.v1.Units/Get', identity, identity, request, (err, res) => {
      if (err || !res || res.length === 0) reject(err ?? new Error('empty reply'));
      else resolve(performance.now() - t);
    });
  });
}

async function main(): Promise<void> {
  for (let i = 0; i < job.warmup; i++) await call();
  const latencies: number[] = [];
  const end = performance.now() + job.durationMs;
  while (performance.now() < end) latencies.push(await call());
  client.close();
  parentPort!.postMessage(latencies);
}
void main();
