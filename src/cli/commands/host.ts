// `berthctl host` and `berthctl version`.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../context.js';
import { formatPairs, humanBytes, printJson, printTable } from '../output.js';

/** berthctl's own version, from the package.json it ships in (dist/src/cli/… or src/cli/…). */
export function cliVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'berth' && pkg.version) return pkg.version;
    } catch {
      // not here; look one level up
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

export function registerHost(program: Command): void {
  program
    .command('host')
    .description('show host facts: OS, kernel, CPU, memory, disks, SELinux, containerd')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const f = await client.host.facts();
      if (options.output === 'json') {
        printJson(f);
        return;
      }
      process.stdout.write(
        formatPairs([
          ['os', `${f.os.distro} ${f.os.release} (${f.os.platform}/${f.os.arch})`],
          ['hostname', f.os.hostname],
          ['kernel', f.kernel],
          ['cpu', `${f.cpu.model}, ${f.cpu.cores} cores (${f.cpu.physicalCores} physical)`],
          ['memory', `${humanBytes(f.memory.total)} total, ${humanBytes(f.memory.available)} available`],
          ['selinux', f.selinux.enabled ? f.selinux.mode : 'disabled'],
          ['containerd', f.containerdVersion || '-'],
        ]),
      );
      if (f.disks.length > 0) {
        process.stdout.write('\n');
        printTable(['DISK', 'SIZE', 'MODEL'], f.disks.map((d) => [d.name, humanBytes(d.size), d.model || '-']));
      }
      if (f.filesystems.length > 0) {
        process.stdout.write('\n');
        printTable(
          ['MOUNT', 'DEVICE', 'TYPE', 'SIZE', 'USED'],
          f.filesystems.map((fs) => [fs.mount, fs.device, fs.type, humanBytes(fs.size), humanBytes(fs.used)]),
        );
      }
      for (const w of f.warnings) process.stderr.write(`warning: ${w}\n`);
    });

  program
    .command('version')
    .description('show berthctl, berthd and containerd versions')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const v = await client.host.version();
      const cli = cliVersion();
      if (options.output === 'json') {
        printJson({ berthctl: cli, berthd: v.berthVersion, containerd: v.containerdVersion, daemon: v.daemon });
        return;
      }
      process.stdout.write(
        formatPairs([
          ['berthctl', cli],
          ['berthd', v.berthVersion],
          ['containerd', v.containerdVersion || `- (${v.daemon.containerd})`],
          ['daemon', `${v.daemon.ready ? 'ready' : 'not ready'}${v.daemon.message ? `: ${v.daemon.message}` : ''}`],
        ]),
      );
    });
}
