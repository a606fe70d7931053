// `veritysetup verify` of a slot against the root hash from the signed metadata. veritysetup reads the data
// from the start of a device and has no data offset, so the slot (a region of the disk) is attached read-only
// as a loop device for the check and detached in a finally. The loop device's name is handed to `onAttach`
// before the check so the caller can record it: a process killed mid-check leaves the device attached, and the
// next run detaches it (`detachStale`).
import { realpath } from 'node:fs/promises';
import { run, ToolError } from './run.js';

export interface VerifyRegion {
  readonly disk: string;
  readonly offset: number;
  readonly size: number;
  readonly hashOffset: number;
  readonly rootHash: string;
}

export class VerityMismatchError extends Error {
  override readonly name = 'VerityMismatchError';
}

export async function attachReadOnly(disk: string, offset: number, size: number): Promise<string> {
  const out = await run('losetup', ['--find', '--show', '--read-only', '--offset', String(offset), '--sizelimit', String(size), disk]);
  const dev = out.trim();
  if (!/^\/dev\/loop\d+$/.test(dev)) throw new Error(`losetup gave no loop device for ${disk} (got ${JSON.stringify(dev)})`);
  return dev;
}

export async function detach(dev: string): Promise<void> {
  await run('losetup', ['--detach', dev]);
}

/** Detach `dev` only if it is still the loop device of `disk` at `offset` (the number may have been reused). */
export async function detachStale(dev: string, disk: string, offset: number): Promise<boolean> {
  if (!/^\/dev\/loop\d+$/.test(dev)) return false;
  const out = await run('losetup', ['--list', '--noheadings', '--raw', '--output', 'BACK-FILE,OFFSET', dev]).catch(() => '');
  const [back, off] = out.trim().split(/\s+/);
  if (!back || Number(off) !== offset) return false;
  const want = await realpath(disk).catch(() => disk);
  if (back !== want && back !== disk) return false;
  await detach(dev).catch(() => undefined);
  return true;
}

export async function verifyRegion(r: VerifyRegion, onAttach: (dev: string | undefined) => Promise<void>, signal?: AbortSignal): Promise<void> {
  if (r.hashOffset <= 0 || r.hashOffset >= r.size) {
    throw new Error(`hashOffset ${r.hashOffset} is outside the slot (${r.size} bytes)`);
  }
  const dev = await attachReadOnly(r.disk, r.offset, r.size);
  try {
    await onAttach(dev);
    await run('veritysetup', ['verify', `--hash-offset=${r.hashOffset}`, dev, dev, r.rootHash], signal ? { signal } : {}).catch((e: unknown) => {
      if (e instanceof ToolError && e.code !== null) {
        throw new VerityMismatchError(`the written slot does not verify against root hash ${r.rootHash} (hash offset ${r.hashOffset}): ${e.stderr.trim() || e.message}`);
      }
      throw e;
    });
  } finally {
    await detach(dev);
    await onAttach(undefined);
  }
}
