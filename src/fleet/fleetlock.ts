// Fedora CoreOS's FleetLock protocol (the one Zincati speaks to airlock and other servers), client side:
//   POST <url>/v1/pre-reboot    take a reboot lock (200: granted; anything else: not now)
//   POST <url>/v1/steady-state  give it back after a healthy boot (200: released)
// both with the header `fleet-lock-protocol: true` and the body {"client_params":{"id":…,"group":…}}. A
// refusal carries {"kind":…,"value":…}, kept as the reason. The server keeps the semaphore (airlock keeps it
// in etcd); berth only asks, retrying until the server says yes (or, for an operator's call, until its wait
// is over).

import { onAbort } from '../util/abort.js';

const CALL_TIMEOUT_MS = 10_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

export interface FleetLockClient {
  readonly url: string;
  readonly id: string;
  readonly group: string;
}

/** `lost`: no answer came (a network error, a timeout): the server may have done it all the same. */
export type FleetLockAnswer = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly lost?: boolean };

/** No lock within the wait: the server's last reason; `lost`, some answer never came (a grant, maybe). */
export class FleetLockWaitExpired extends Error {
  override readonly name = 'FleetLockWaitExpired';
  constructor(readonly reason: string, readonly lost: boolean) {
    super(`no FleetLock lock: ${reason}`);
  }
}

/** One call; network errors and refusals both come back as `ok: false` with the reason. */
export async function fleetLockCall(c: FleetLockClient, op: 'pre-reboot' | 'steady-state'): Promise<FleetLockAnswer> {
  const url = `${c.url.replace(/\/+$/, '')}/v1/${op}`;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'fleet-lock-protocol': 'true', 'content-type': 'application/json' },
      body: JSON.stringify({ client_params: { id: c.id, group: c.group } }),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    const text = (await res.text()).slice(0, 4096);
    if (res.status === 200) return { ok: true };
    let reason = `${url}: HTTP ${res.status}`;
    try {
      const body = JSON.parse(text) as { kind?: unknown; value?: unknown };
      if (typeof body.kind === 'string') reason += ` ${body.kind}${typeof body.value === 'string' ? `: ${body.value}` : ''}`;
    } catch {
      /* not the protocol's error body: the status says enough */
    }
    return { ok: false, reason };
  } catch (err) {
    return { ok: false, reason: `${url}: ${err instanceof Error ? err.message : String(err)}`, lost: true };
  }
}

/**
 * Calls `op` until the server answers 200 (backing off), or `signal` aborts, or — with `maxWaitMs` — the wait
 * is over (FleetLockWaitExpired, after a last call at its end).
 */
export async function fleetLockUntilOk(c: FleetLockClient, op: 'pre-reboot' | 'steady-state', opts: { signal?: AbortSignal; maxWaitMs?: number; waiting?: (reason: string) => void } = {}): Promise<void> {
  const deadline = opts.maxWaitMs === undefined ? undefined : Date.now() + opts.maxWaitMs;
  let delay = RETRY_MIN_MS;
  let said = '';
  let lost = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    const answer = await fleetLockCall(c, op);
    if (answer.ok) return;
    lost ||= answer.lost === true;
    if (answer.reason !== said) opts.waiting?.((said = answer.reason));
    const left = deadline === undefined ? delay : deadline - Date.now();
    if (left <= 0) throw new FleetLockWaitExpired(answer.reason, lost);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(delay, left));
      const stop = opts.signal ? onAbort(opts.signal, done) : () => undefined;
      function done(): void {
        clearTimeout(timer);
        stop();
        resolve();
      }
    });
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}
