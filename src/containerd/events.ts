import type { ContainerdClient } from './client.js';
import { decodeProtoAny } from './codec.js';
import { timestampToDate } from './types.js';
import { wakeOrAbort } from '../util/abort.js';

export type EventItem =
  | { kind: 'event'; topic: string; namespace: string; at: Date | undefined; payload: Record<string, unknown> | undefined }
  /**
   * The stream was (re)established after a break: events in between may be lost (containerd has no replay),
   * so the consumer must re-list what it cares about.
   */
  | { kind: 'resync'; reason: string }
  /** The stream broke (containerd gone or restarting); a `resync` follows once it answers again. */
  | { kind: 'disconnected'; reason: string };

const sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
  let timer: NodeJS.Timeout | undefined;
  return wakeOrAbort(signal, (wake) => (timer = setTimeout(wake, ms))).finally(() => clearTimeout(timer));
};

/**
 * containerd's event stream as an async iterator that survives containerd restarts: when the stream
 * breaks it waits for containerd to answer again (backoff capped at 1 s), re-subscribes and yields a
 * `resync` marker first. Ends only when `signal` aborts.
 */
export async function* subscribeEvents(client: ContainerdClient, filters: string[], signal: AbortSignal): AsyncGenerator<EventItem> {
  let backoff = 50;
  let first = true;
  while (!signal.aborted) {
    try {
      const stream = client.subscribeOnce(filters, signal);
      if (!first) yield { kind: 'resync', reason: 'event stream re-established' };
      first = false;
      for await (const env of stream) {
        backoff = 50;
        yield {
          kind: 'event',
          topic: env.topic,
          namespace: env.namespace,
          at: timestampToDate(env.timestamp),
          payload: env.event ? decodeProtoAny(env.event) : undefined,
        };
      }
    } catch (e) {
      if (signal.aborted) return;
      yield { kind: 'disconnected', reason: e instanceof Error ? e.message : String(e) };
    }
    first = false;
    // Wait until containerd answers before re-subscribing, so `resync` means "you can list now".
    while (!signal.aborted) {
      try {
        await client.version({ timeoutMs: 1000 });
        break;
      } catch {
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 1000);
      }
    }
  }
}
