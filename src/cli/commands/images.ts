// `berthctl images import|pull|ls|rm|prune`.
import type { Command } from 'commander';
import path from 'node:path';
import { imageNameArg, imageRefArg, nonEmptyArg } from '../arguments.js';
import { connect } from '../context.js';
import { humanBytes, printJson, printJsonLine, printTable } from '../output.js';
import type { PullProgressMessage } from '../client.js';

/** `[#########-----------]  2/3 layers  1.2 MiB/4.5 MiB` sized to the terminal. */
function progressBar(p: PullProgressMessage, columns: number): string {
  const counts = `${p.layersDone}/${p.layersTotal} layers  ${humanBytes(p.bytesDone)}/${humanBytes(p.bytesTotal)}`;
  const label = p.phase === 'fetching' ? counts : `${p.phase}${p.phase === 'unpacking' ? `  ${counts}` : ''}`;
  const width = Math.max(10, Math.min(40, columns - label.length - 6));
  const ratio = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]  ${label}`.slice(0, Math.max(columns - 1, 20));
}

/** Plain, one line per change, for logs and pipes. */
function progressText(ref: string, p: PullProgressMessage): string {
  const counts = `${p.layersDone}/${p.layersTotal} layers, ${humanBytes(p.bytesDone)}/${humanBytes(p.bytesTotal)}`;
  return `${ref}: ${p.phase}${p.phase === 'resolving' ? '' : ` ${counts}`}${p.message ? ` (${p.message})` : ''}`;
}

export function registerImages(program: Command): void {
  const images = program.command('images').description('manage images in the host containerd');

  images
    .command('import')
    .description('import an OCI image archive that is on this host')
    .argument('<file>', 'path of the archive, a regular file (read by berthd, so it must be on this host)', nonEmptyArg)
    .option('--ref <ref>', 'name to give the image', imageRefArg)
    .action(async (file: string, opts: { ref?: string }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      // berthd has its own working directory; send a path that means the same to it.
      const imported = await client.images.import(path.resolve(file), opts.ref);
      if (options.output === 'json') printJson(imported);
      else printTable(['NAME', 'DIGEST'], imported.map((i) => [i.name, i.digest]));
    });

  images
    .command('pull')
    .description('pull an image from its registry (settings: container-registry.*)')
    .argument('<ref>', 'image reference (busybox, registry.example.com/team/app:1.2, repo@sha256:…)', imageRefArg)
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const ac = new AbortController();
      // Ctrl-C cancels the call; berthd aborts the pull and its lease removes what it wrote.
      const onSigint = (): void => ac.abort();
      process.once('SIGINT', onSigint);
      const tty = options.output !== 'json' && process.stderr.isTTY === true;
      let lastPlain = '';
      let final: PullProgressMessage | undefined;
      try {
        for await (const p of client.images.pull(ref, { signal: ac.signal })) {
          if (p.phase === 'done') final = p;
          if (options.output === 'json') printJsonLine(p);
          else if (tty) process.stderr.write(`\r\x1b[K${progressBar(p, process.stderr.columns ?? 80)}`);
          else {
            // Plain mode: a line when the phase, layer count or message changes, not on every byte update.
            const key = `${p.phase} ${p.layersDone} ${p.message}`;
            if (key !== lastPlain && p.phase !== 'done') process.stdout.write(`${progressText(ref, p)}\n`);
            lastPlain = key;
          }
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
        if (tty) process.stderr.write('\r\x1b[K');
      }
      if (ac.signal.aborted) throw new Error(`pull of ${ref} cancelled`);
      if (final && options.output !== 'json') process.stdout.write(`pulled ${final.name} ${final.digest}\n`);
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
    .argument('<ref>', 'image name, as images ls shows it', imageNameArg)
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const { client } = await connect(cmd);
      await client.images.remove(ref);
    });

  images
    .command('prune')
    .description('remove content and snapshots that no image or container uses')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const r = await client.images.prune();
      if (options.output === 'json') printJson(r);
      else process.stdout.write(`removed ${r.contentRemoved} blobs (${humanBytes(r.bytesReclaimed)}) and ${r.snapshotsRemoved} snapshots\n`);
    });
}
