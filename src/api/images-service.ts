// berth.v1.Images: translation to ImagesApi.
import type * as grpc from '@grpc/grpc-js';
import path from 'node:path';
import { unary } from './calls.js';
import { ValidationError } from './errors.js';
import type { ImagesApi } from './services.js';

export function imagesService(images: ImagesApi): grpc.UntypedServiceImplementation {
  return {
    Import: unary<{ path: string; ref: string }, { images: { name: string; digest: string }[] }>(async (req) => {
      // The daemon's working directory is not the caller's; only absolute paths mean the same thing to both.
      if (!path.isAbsolute(req.path)) throw new ValidationError('path', `must be an absolute path on the host, got ${JSON.stringify(req.path)}`);
      const imported = await images.import(req.path, req.ref === '' ? undefined : req.ref);
      return { images: imported.map((i) => ({ name: i.name, digest: i.digest })) };
    }),
    List: unary<unknown, { images: { name: string; digest: string; size: number }[] }>(async () => ({
      images: (await images.list()).map((i) => ({ name: i.name, digest: i.digest, size: i.size })),
    })),
    Remove: unary<{ ref: string }, Record<string, never>>(async ({ ref }) => {
      if (ref === '') throw new ValidationError('ref', 'an image reference is required');
      await images.remove(ref);
      return {};
    }),
  };
}
