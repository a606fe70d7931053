// Progress of one pull as bytes and layers, for the CLI's progress bar, the Pull RPC stream and the
// supervisor's "preparing" message. Emissions are throttled: a layer arrives in many small chunks.
import { humanBytes } from '../util/human-bytes.js';

export type PullPhase = 'resolving' | 'fetching' | 'unpacking' | 'done';

export interface PullProgress {
  readonly ref: string;
  readonly phase: PullPhase;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly layersDone: number;
  readonly layersTotal: number;
  /** One line for people: what is happening now (a retry, the layer being unpacked). */
  readonly message: string;
}

/** `pulling docker.io/library/busybox:latest: 2/3 layers, 1.2 MiB/4.5 MiB`. */
export function progressLine(p: PullProgress): string {
  if (p.phase === 'resolving') return `pulling ${p.ref}: resolving${p.message ? ` (${p.message})` : ''}`;
  if (p.phase === 'done') return `pulled ${p.ref}${p.message ? `: ${p.message}` : ''}`;
  const counts = `${p.layersDone}/${p.layersTotal} layers, ${humanBytes(p.bytesDone)}/${humanBytes(p.bytesTotal)}`;
  const what = p.phase === 'unpacking' ? 'unpacking' : 'pulling';
  return `${what} ${p.ref}: ${counts}${p.message ? ` (${p.message})` : ''}`;
}

export class ProgressTracker {
  private phase: PullPhase = 'resolving';
  private readonly sizes = new Map<string, number>();
  private readonly done = new Map<string, number>();
  private readonly complete = new Set<string>();
  private message = '';
  private lastEmit = 0;

  constructor(private readonly ref: string, private readonly sink: ((p: PullProgress) => void) | undefined, private readonly intervalMs = 200) {}

  setLayers(layers: readonly { digest: string; size: number }[]): void {
    for (const l of layers) this.sizes.set(l.digest, l.size);
    this.phase = 'fetching';
    this.emit(true);
  }

  /** Absolute bytes of a layer present so far (resumes start above 0). */
  layerBytes(digest: string, bytes: number): void {
    this.done.set(digest, bytes);
    this.emit(false);
  }

  layerDone(digest: string): void {
    this.complete.add(digest);
    this.done.set(digest, this.sizes.get(digest) ?? 0);
    this.emit(true);
  }

  note(message: string, phase?: PullPhase): void {
    this.message = message;
    if (phase) this.phase = phase;
    this.emit(true);
  }

  snapshot(): PullProgress {
    let bytesDone = 0;
    let bytesTotal = 0;
    for (const [d, size] of this.sizes) {
      bytesTotal += size;
      bytesDone += Math.min(this.done.get(d) ?? 0, size);
    }
    return { ref: this.ref, phase: this.phase, bytesDone, bytesTotal, layersDone: this.complete.size, layersTotal: this.sizes.size, message: this.message };
  }

  private emit(force: boolean): void {
    if (!this.sink) return;
    const now = Date.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    this.sink(this.snapshot());
  }
}
