import { randomBytes } from 'node:crypto';
import type { ContainerdClient } from './client.js';

/**
 * Run `fn` under a fresh lease so everything it creates is protected from GC until referenced, and is
 * collected if `fn` fails. The expiry label is the safety net if berth dies mid-operation.
 */
export async function withLease<T>(client: ContainerdClient, namespace: string, fn: (lease: string) => Promise<T>, expireMs = 3_600_000): Promise<T> {
  const id = `berth-${Date.now()}-${randomBytes(4).toString('hex')}`;
  await client.createLease(id, { 'containerd.io/gc.expire': new Date(Date.now() + expireMs).toISOString() }, { namespace });
  let failed = false;
  try {
    return await fn(id);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    // sync on failure: GC runs now, so "nothing left behind" holds when the caller returns.
    await client.deleteLease(id, failed, { namespace }).catch(() => undefined);
  }
}
