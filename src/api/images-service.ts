// berth.v1.Images: translation to ImagesApi.
import type * as grpc from '@grpc/grpc-js';
import path from 'node:path';
import { failStream, unary } from './calls.js';
import { ValidationError } from './errors.js';
import type { ImagesApi, PullProgressReport } from './services.js';
import type { WirePullProgress } from '../wire/messages.js';


/**
 * Longest image reference passed on to containerd. A 1 MiB reference sent to Images.Remove made the call hang
 * and every later image call on berthd's containerd connection hang with it (chaos suite R4); real references
 * are a few hundred characters at most (a repository name is limited to 255).
 */
const MAX_REF = 4096;
function checkRef(ref: string): void {
  if (ref.length > MAX_REF) throw new ValidationError('ref', `too long: ${ref.length} characters, at most ${MAX_REF}`);
}

const unimplemented = (what: string): Error => Object.assign(new Error(`${what} is not available in this daemon`), { code: 12 });

const progressToWire = (p: PullProgressReport): WirePullProgress => ({
  phase: p.phase, message: p.message, bytes_done: p.bytesDone, bytes_total: p.bytesTotal, layers_done: p.layersDone, layers_total: p.layersTotal, name: '', digest: '',
});

/** Server stream of pull progress; the client cancelling the call aborts the pull (its lease cleans up). */
function pullHandler(images: ImagesApi): grpc.handleServerStreamingCall<{ ref: string }, WirePullProgress> {
  return (call) => {
    const controller = new AbortController();
    call.once('cancelled', () => controller.abort());
    void (async () => {
      const ref = call.request.ref;
      if (ref === '') throw new ValidationError('ref', 'an image reference is required');
      checkRef(ref);
      if (!images.pull) throw unimplemented('image pull');
      let last: PullProgressReport | undefined;
      const pulled = await images.pull(ref, (p) => {
        last = p;
        // Not awaited for drain: the pull must not wait on a slow reader, and updates are throttled (200 ms).
        if (!call.cancelled && p.phase !== 'done') call.write(progressToWire(p));
      }, controller.signal);
      const final = last ?? { phase: 'done', message: '', bytesDone: 0, bytesTotal: 0, layersDone: 0, layersTotal: 0 };
      if (call.cancelled) return;
      call.write({ ...progressToWire({ ...final, phase: 'done' }), name: pulled.name, digest: pulled.digest });
      call.end();
    })().catch((err: unknown) => failStream(call as grpc.ServerWritableStream<unknown, unknown>, err));
  };
}

export function imagesService(images: ImagesApi): grpc.UntypedServiceImplementation {
  return {
    Import: unary<{ path: string; ref: string }, { images: { name: string; digest: string }[] }>(async (req) => {
      // The daemon's working directory is not the caller's; only absolute paths mean the same thing to both.
      if (!path.isAbsolute(req.path)) throw new ValidationError('path', `must be an absolute path on the host, got ${JSON.stringify(req.path)}`);
      // node refuses such a path with a TypeError that surfaced as INTERNAL (chaos suite R4).
      if (req.path.includes('\0')) throw new ValidationError('path', 'must not contain NUL');
      checkRef(req.ref);
      let imported;
      try {
        imported = await images.import(req.path, req.ref === '' ? undefined : req.ref);
      } catch (err) {
        // A missing/unreadable file or one that is not an OCI archive is a bad `path` (INVALID_ARGUMENT naming
        // the field), not an INTERNAL error of berthd (found by the chaos suite's API fuzzing, R4).
        const code = (err as NodeJS.ErrnoException | undefined)?.code;
        const fileProblem = typeof code === 'string' && ['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'ELOOP', 'ENAMETOOLONG', 'EINVAL', 'ENXIO'].includes(code);
        // A blob whose bytes do not hash to its name is the archive's fault too (chaos suite R7).
        const archiveProblem = ['ImportError', 'DigestMismatchError'].includes((err as Error | undefined)?.name ?? '');
        if (fileProblem || archiveProblem) throw new ValidationError('path', (err as Error).message);
        throw err;
      }
      return { images: imported.map((i) => ({ name: i.name, digest: i.digest })) };
    }),
    List: unary<unknown, { images: { name: string; digest: string; size: number }[] }>(async () => ({
      images: (await images.list()).map((i) => ({ name: i.name, digest: i.digest, size: i.size })),
    })),
    Remove: unary<{ ref: string }, Record<string, never>>(async ({ ref }) => {
      if (ref === '') throw new ValidationError('ref', 'an image reference is required');
      checkRef(ref);
      await images.remove(ref);
      return {};
    }),
    Pull: pullHandler(images) as grpc.handleServerStreamingCall<unknown, unknown>,
    Prune: unary<unknown, { content_removed: number; snapshots_removed: number; bytes_reclaimed: number }>(async () => {
      if (!images.prune) throw unimplemented('image prune');
      const r = await images.prune();
      return { content_removed: r.contentRemoved, snapshots_removed: r.snapshotsRemoved, bytes_reclaimed: r.bytesReclaimed };
    }),
  };
}
