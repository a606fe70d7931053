import { SettingsError, SETTINGS, formatIssue, type SettingsStore, type CommitResult } from '../settings/index.js';
import { parseErrorMessage } from '../settings/document.js';
import { ValidationError, NotFoundError } from '../api/errors.js';
import type { HostApi, ImagesApi, SettingsApi } from '../api/services.js';
import type { ContainerdClient } from '../containerd/client.js';
import { isNotFound } from '../containerd/errors.js';
import type { ImageService } from '../images/image-service.js';
import type { SelinuxState } from './selinux.js';
import { DocumentDepthError, parseJsonBounded } from '../util/depth.js';

/**
 * Settings errors become validation errors naming the key, so the API answers INVALID_ARGUMENT. An error
 * about no key in particular (empty change set, bad or empty transaction) names the request `field` instead:
 * the chaos suite's API fuzzing (R4) found such rejections naming no field at all.
 */
async function translate<T>(op: () => Promise<T> | T, field = ''): Promise<T> {
  try {
    return await op();
  } catch (e) {
    if (e instanceof SettingsError && e.code !== 'persist' && e.code !== 'load') {
      const first = e.issues[0];
      const key = first?.key || field;
      throw new ValidationError(key, e.issues.length > 0 && first?.key ? e.issues.map(formatIssue).join('; ') : e.message);
    }
    throw e;
  }
}

const changed = (r: CommitResult): { changed: string[] } => ({ changed: [...r.changedKeys] });

export function settingsApi(store: SettingsStore): SettingsApi {
  return {
    get: async (prefix) => translate(() => store.get(prefix)),
    set: (values) => translate(async () => changed(await store.set(values)), 'values'),
    setJson: (json) => translate(async () => {
      let parsed: unknown;
      try {
        // Depth-checked first: flattening and validation recurse once per level.
        parsed = parseJsonBounded(json);
      } catch (e) {
        if (e instanceof DocumentDepthError) throw new ValidationError('json', e.message);
        throw new ValidationError('json', `invalid JSON: ${parseErrorMessage(e)}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ValidationError('json', 'expected a JSON object of settings');
      const body = (parsed as Record<string, unknown>).settings ?? parsed;
      return changed(await store.set(body as Record<string, unknown>));
    }, 'json'),
    apply: (document, format) => translate(async () => changed(await store.apply(document, format)), 'document'),
    stage: (tx, values) => translate(() => void store.stage(tx, values), 'tx'),
    commit: (tx) => translate(async () => changed(await store.commit(tx)), 'tx'),
    discard: (tx) => translate(() => {
      if (!store.discard(tx)) throw new NotFoundError(`transaction ${JSON.stringify(tx)} not found`);
    }),
    pending: (tx) => translate(() => Object.fromEntries(store.pending(tx).map((c) => [c.key, c.op === 'set' ? c.value : null]))),
    keys: () => SETTINGS.map((d) => ({ pattern: d.pattern, description: d.description })),
  };
}

/**
 * The images berth keeps, in every namespace it uses: the host containers' namespace (`images`) and, on
 * the containerd backend, the workloads namespace (`workloadImages`).
 * - `import` reads the archive once, into the host namespace, and unpacks it there (host containers are its
 *   first users, and unpacking checks every layer's diff id, so a bad archive is refused at import). The
 *   workloads namespace gets the same blobs linked (shared on disk, no copy) and the image record; it
 *   unpacks only when a workload runs the image. One read, one unpack per import.
 * - `rm` removes the name in every namespace (not found only if none had it) and `prune` prunes each: a blob
 *   is on disk once, and its space comes back only when no namespace references it any more.
 */
export function imagesApi(images: ImageService, workloadImages?: ImageService): ImagesApi {
  const all = workloadImages ? [images, workloadImages] : [images];
  return {
    import: async (file, ref) => {
      const imported = await images.import(file, ref);
      await workloadImages?.adopt(images.namespace, imported.map((i) => i.name));
      return imported;
    },
    list: () => images.list(),
    remove: async (ref) => {
      let removed = 0;
      for (const service of all) {
        try {
          await service.remove(ref);
          removed++;
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
      if (removed === 0) throw new NotFoundError(`image ${ref} not found`);
    },
    pull: async (ref, onProgress, signal) => {
      const pulled = await images.pull(ref, onProgress, signal);
      return { name: pulled.name, digest: pulled.digest };
    },
    prune: async () => {
      const total = { contentRemoved: 0, snapshotsRemoved: 0, bytesReclaimed: 0 };
      for (const service of all) {
        const r = await service.prune();
        total.contentRemoved += r.contentRemoved;
        total.snapshotsRemoved += r.snapshotsRemoved;
        total.bytesReclaimed += r.bytesReclaimed;
      }
      return total;
    },
  };
}

export function hostApi(client: ContainerdClient, selinux: SelinuxState, version: string): HostApi {
  return {
    selinux: async () => ({ enabled: selinux.active, mode: selinux.mode }),
    containerdVersion: async () => (await client.version({ timeoutMs: 2000 })).version,
    berthVersion: version,
  };
}
