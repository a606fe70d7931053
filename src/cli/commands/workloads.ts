// `berthctl workloads run|ls|status|start|stop|rm|logs`.
import type { Command } from 'commander';
import type { WorkloadInfo } from '../../wire/index.js';
import { connect } from '../context.js';
import { formatPairs, humanBytes, printJson, printJsonLine, printTable } from '../output.js';
import { collect, runRequest, type RunFlags } from './workloads-args.js';
import { failIfAny, followStop } from '../stop-view.js';
import { imageRefArg, nameArg, nonNegativeIntArg, sizeArg } from '../arguments.js';

function row(w: WorkloadInfo): string[] {
  const s = w.status;
  return [w.request.name, s.state, s.desired, s.pid > 0 ? String(s.pid) : '-', String(s.restarts), w.mcs, w.runtime, w.request.image];
}

function limits(w: WorkloadInfo): string {
  const r = w.request;
  const parts = [
    r.memoryBytes !== undefined ? `memory ${humanBytes(r.memoryBytes)}` : 'memory unlimited',
    ...(r.cpus !== undefined ? [`cpus ${r.cpus}`] : []),
    ...(r.pids !== undefined ? [`pids ${r.pids}`] : []),
  ];
  return parts.join(', ');
}

export function formatWorkload(w: WorkloadInfo): string {
  const s = w.status;
  const pairs: [string, string][] = [
    ['name', w.request.name],
    ['state', `${s.state} (desired ${s.desired})`],
    ['image', w.request.image],
    ['runtime', `${w.runtime} (${s.namespace})`],
    ['mcs', w.mcs],
    ['limits', limits(w)],
    ['restart', w.request.restart],
    ['pid', s.pid > 0 ? String(s.pid) : '-'],
    ['restarts', String(s.restarts)],
    ['exit code', s.exitCode === undefined ? '-' : String(s.exitCode)],
    ['last error', s.lastError ?? '-'],
  ];
  if (s.selinux) pairs.push(['selinux', `${s.selinux.processLabel} (${s.selinux.applied ? 'applied' : 'recorded only'})`]);
  return formatPairs(pairs);
}

function print(w: WorkloadInfo, json: boolean): void {
  if (json) printJson(w);
  else process.stdout.write(`${w.request.name}: ${w.status.state}\n`);
}

export function registerWorkloads(program: Command): void {
  const workloads = program.command('workloads').description('run and manage workloads (least-trusted containers, confined by policy)');

  workloads
    .command('run')
    .description('run a workload; refused with the reason when it asks for more than the workload policy allows')
    .argument('<name>', 'workload name', nameArg)
    .argument('[command...]', 'command and arguments (after --), replacing the image entrypoint and cmd')
    .requiredOption('--image <ref>', 'image reference', imageRefArg)
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-m, --memory <size>', 'memory limit, e.g. 64Mi or 64m (binary: 64m is 64 MiB, as for docker run)', sizeArg)
    .option('--cpus <n>', 'CPU limit in cores, e.g. 0.5')
    .option('--pids <n>', 'maximum number of processes')
    .option('--mount <src:dst[:ro|:rw]>', 'bind a host path from the allow-list (read-only unless :rw; repeatable)', collect)
    .option('--restart <policy>', 'always | on-failure | never (default always)')
    .option('--cap-add <cap>', 'add a capability from workloads.allowed-capabilities (repeatable)', collect)
    .option('--privileged', 'ask for privileges (always refused for workloads)')
    .option('--network <mode>', 'private (default) or host (refused)')
    .option('--pid <mode>', 'private (default) or host (refused)')
    .option('--device <path>', 'a host device (refused for workloads; repeatable)', collect)
    .action(async (name: string, command: string[], flags: RunFlags, cmd: Command) => {
      const request = runRequest(name, command, flags);
      const { client, options } = await connect(cmd);
      print(await client.workloads.run(request), options.output === 'json');
    });

  workloads
    .command('ls')
    .alias('list')
    .description('list workloads')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const list = await client.workloads.list();
      if (options.output === 'json') printJson(list);
      else printTable(['NAME', 'STATE', 'DESIRED', 'PID', 'RESTARTS', 'MCS', 'RUNTIME', 'IMAGE'], list.map(row));
    });

  workloads
    .command('status')
    .description('show one workload in detail')
    .argument('<name>', 'workload name', nameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const w = await client.workloads.get(name);
      if (options.output === 'json') printJson(w);
      else process.stdout.write(formatWorkload(w));
    });

  workloads
    .command('start')
    .description('start a workload (persisted: it stays running across berthd restarts)')
    .argument('<name>', 'workload name', nameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      print(await client.workloads.start(name), options.output === 'json');
    });

  workloads
    .command('stop')
    .description('stop a workload (persisted: it stays stopped across berthd restarts), showing the stop signal and the time until SIGKILL while it waits')
    .argument('<name>', 'workload name', nameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      if (options.output === 'json') {
        print(await client.workloads.stop(name), true);
        return;
      }
      const events = await followStop(client.workloads.stopWithProgress(name), options.output, () => client.workloads.stop(name));
      print(await client.workloads.get(name), false);
      failIfAny(events);
    });

  workloads
    .command('rm')
    .alias('remove')
    .description('stop a workload, remove its container and forget it')
    .argument('<name>', 'workload name', nameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client } = await connect(cmd);
      await client.workloads.remove(name);
    });

  workloads
    .command('logs')
    .description("print a workload's logs")
    .argument('<name>', 'workload name', nameArg)
    .option('-n, --tail <lines>', 'only the last N lines', nonNegativeIntArg)
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .action(async (name: string, opts: { tail?: number; follow?: boolean }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const lines = client.workloads.logs(name, { follow: opts.follow ?? false, signal: controller.signal, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) });
      for await (const l of lines) {
        if (options.output === 'json') printJsonLine(l);
        else process.stdout.write(l.stream === 'stderr' ? `${l.at} [stderr] ${l.line}\n` : `${l.at} ${l.line}\n`);
      }
    });
}
