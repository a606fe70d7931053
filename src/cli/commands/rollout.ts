// `berthctl rollout history NAME`: a host or bootstrap container's image changes, each with both digests and its outcome.
import type { Command } from 'commander';
import type { RolloutInfo } from '../../wire/index.js';
import { nameArg } from '../arguments.js';
import { connect } from '../context.js';
import { printJson, printTable } from '../output.js';

export function imageWithDigest(i: { ref: string; digest: string }): string {
  return i.digest ? `${i.ref}@${i.digest}` : i.ref;
}

/** One line for `status`: phase or outcome, both images, the deadline while watching, the reason. */
export function rolloutLine(r: RolloutInfo): string {
  const what = r.phase === 'done' ? r.outcome : `${r.phase} (in progress)`;
  const until = r.deadline ? `, watch until ${r.deadline}` : '';
  const why = r.reason ? `; ${r.reason}` : '';
  return `#${r.id} ${what}: ${imageWithDigest(r.from)} → ${imageWithDigest(r.to)}${until}${why}`;
}

export function rolloutRow(r: RolloutInfo): string[] {
  return [String(r.id), r.startedAt, r.phase === 'done' ? r.outcome : r.phase, imageWithDigest(r.from), imageWithDigest(r.to), r.reason ?? '-'];
}

export function registerRollout(program: Command): void {
  const rollout = program.command('rollout').description("a host or bootstrap container's guarded image changes (rollouts)");
  rollout
    .command('history')
    .description('every recent rollout of a unit: when, outcome, the image (with digest) before and after, why')
    .argument('<name>', 'unit name', nameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const unit = await client.units.get(name);
      const history = unit.rolloutHistory ?? [];
      if (options.output === 'json') printJson(history);
      else printTable(['ID', 'STARTED', 'OUTCOME', 'FROM', 'TO', 'REASON'], history.map(rolloutRow));
    });
}
