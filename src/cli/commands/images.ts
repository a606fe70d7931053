// `berthctl images import|ls|rm`.
import type { Command } from 'commander';
import path from 'node:path';
import { connect } from '../context.js';
import { humanBytes, printJson, printTable } from '../output.js';

export function registerImages(program: Command): void {
  const images = program.command('images').description('manage images in the host containerd');

  images
    .command('import')
    .description('import an OCI image archive that is on this host')
    .argument('<file>', 'path of the archive (read by berthd, so it must be on this host)')
    .option('--ref <ref>', 'name to give the image')
    .action(async (file: string, opts: { ref?: string }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      // berthd has its own working directory; send a path that means the same to it.
      const imported = await client.images.import(path.resolve(file), opts.ref);
      if (options.output === 'json') printJson(imported);
      else printTable(['NAME', 'DIGEST'], imported.map((i) => [i.name, i.digest]));
    });

  images
    .command('ls')
    .alias('list')
    .description('list images')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const list = await client.images.list();
      if (options.output === 'json') printJson(list);
      else printTable(['NAME', 'DIGEST', 'SIZE'], list.map((i) => [i.name, i.digest, humanBytes(i.size)]));
    });

  images
    .command('rm')
    .alias('remove')
    .description('remove an image')
    .argument('<ref>', 'image reference')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { client } = await connect(cmd);
      await client.images.remove(ref);
    });
}
