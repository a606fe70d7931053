#!/usr/bin/env node
// berth-repo: builds and signs the TUF repository that berth hosts update from. A plain directory
// (`metadata/`, `targets/`) any static file server can serve; the keys stay in `DIR/keys/` (mode 0600) and
// must never be served. `rootfs/usr/share/berth/root.json` on the image is a copy of `metadata/1.root.json`.

import { Command, CommanderError } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseMigration } from '../updates/migrations/format.js';
import { hostArch, parseArchFlag, parseDurationFlag, parseHashOffsetFlag, parseRootHashFlag, parseVariantFlag, parseVersionFlag, parseWaves } from './args.js';
import { add, init, refresh, rotateRoot } from './repository.js';

const collect = (v: string, acc: string[] = []): string[] => [...acc, v];

async function fileFlag(flag: string, path: string | undefined): Promise<string> {
  if (!path) throw new Error(`${flag}: required`);
  const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${flag}: ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (!s.isFile()) throw new Error(`${flag}: ${path}: not a regular file`);
  return path;
}

/** A migration is checked before it is signed: a host would refuse it anyway, at the worst moment. */
async function migrationFlag(path: string): Promise<string> {
  await fileFlag('--migration', path);
  try {
    parseMigration(basename(path), await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`--migration: ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return path;
}

interface AddFlags {
  version?: string; variant?: string; arch?: string; rootImage?: string; rootHash?: string; hashOffset?: string;
  kernel?: string; initramfs?: string; migration?: string[]; wave?: string[]; expires?: string;
}

function required(flag: string, v: string | undefined): string {
  if (v === undefined) throw new Error(`${flag}: required`);
  return v;
}

function program(): Command {
  const p = new Command('berth-repo').description('build and sign a berth update repository (TUF)').exitOverride();
  p.command('init <dir>')
    .description('create keys (DIR/keys, 0600) and the first signed metadata')
    .option('--expires <duration>', 'timestamp/snapshot expiry', '7d')
    .action(async (dir: string, o: { expires: string }) => {
      await init(dir, { expiresMs: parseDurationFlag('--expires', o.expires) });
      console.log(`initialized ${dir}: serve ${dir}/metadata and ${dir}/targets; ship ${dir}/metadata/1.root.json as the hosts' trusted root`);
    });
  p.command('add <dir>')
    .description('publish one version of one variant')
    .option('--version <v>', 'version MAJOR.MINOR.PATCH')
    .option('--variant <name>', 'variant the image is built for')
    .option('--arch <arch>', 'x86_64 or aarch64 (default: this machine)')
    .option('--root-image <file>', 'root image (root filesystem + verity hash tree), packed with zstd or gzip or as it is')
    .option('--root-hash <hex>', 'dm-verity root hash of the root image')
    .option('--hash-offset <bytes>', 'offset of the verity hash tree in the root image')
    .option('--kernel <file>', 'kernel')
    .option('--initramfs <file>', 'initramfs')
    .option('--migration <file>', 'settings migration: a berth-migration JSON file (repeatable, in order)', collect)
    .option('--wave <seed@duration>', 'rollout wave: hosts from SEED on may update DURATION after now (repeatable)', collect)
    .option('--expires <duration>', 'timestamp/snapshot expiry', '7d')
    .action(async (dir: string, o: AddFlags) => {
      const input = {
        version: parseVersionFlag(required('--version', o.version)),
        variant: parseVariantFlag(required('--variant', o.variant)),
        arch: o.arch === undefined ? hostArch() : parseArchFlag(o.arch),
        rootHash: parseRootHashFlag(required('--root-hash', o.rootHash)),
        hashOffset: parseHashOffsetFlag(required('--hash-offset', o.hashOffset)),
        waves: parseWaves(o.wave ?? []),
        rootImage: await fileFlag('--root-image', o.rootImage),
        kernel: await fileFlag('--kernel', o.kernel),
        initramfs: await fileFlag('--initramfs', o.initramfs),
        migrations: await Promise.all((o.migration ?? []).map(migrationFlag)),
      };
      const entry = await add(dir, input, { expiresMs: parseDurationFlag('--expires', o.expires ?? '7d') });
      console.log(`added ${entry.variant} ${entry.arch} ${entry.version} (${entry.waves.length} waves, ${entry.migrations.length} migrations)`);
    });
  p.command('refresh <dir>')
    .description('re-sign timestamp and snapshot with a new expiry')
    .option('--expires <duration>', 'expiry from now', '7d')
    .action(async (dir: string, o: { expires: string }) => {
      const r = await refresh(dir, { expiresMs: parseDurationFlag('--expires', o.expires) });
      console.log(`timestamp version ${r.timestampVersion}, expires ${r.expires}`);
    });
  p.command('rotate-root <dir>')
    .description('new root key; the next root is signed by the old and the new key')
    .action(async (dir: string) => {
      const r = await rotateRoot(dir);
      console.log(`root version ${r.version}, root key ${r.keyId}`);
    });
  return p;
}

async function main(): Promise<void> {
  try {
    await program().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    console.error(`berth-repo: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}

await main();
