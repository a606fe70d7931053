// Settings commands: get, set, apply, keys, and named transactions (set --tx, tx pending|commit|discard).
import type { Command } from 'commander';
import { nonEmptyArg, settingsPrefixArg, txNameArg } from '../arguments.js';
import { connect } from '../context.js';
import { readUserFile } from '../files.js';
import { UsageError } from '../errors.js';
import { documentFormat } from '../document-format.js';
import { printJson, printTable, type OutputFormat } from '../output.js';

/**
 * berthd already redacts secrets; berthctl does it again so an older berthd's answer cannot print one either.
 * By the secret keys' shapes: the settings registry (zod schemas) would add ~100 ms to every `get`.
 */
async function redacted(value: unknown): Promise<unknown> {
  const { redactSecrets } = await import('../../settings/secret-keys.js');
  return redactSecrets(value);
}

/** Every `host-containers.<name>.source` and `bootstrap-containers.<name>.source` in a `get` answer (nested from the root): [key, unit name, image asked for]. */
export function hostContainerSources(value: unknown): Array<[string, string, string]> {
  const found: Array<[string, string, string]> = [];
  const walk = (path: string[], v: unknown): void => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, child] of Object.entries(v)) walk([...path, k], child);
      return;
    }
    if (path.length === 3 && (path[0] === 'host-containers' || path[0] === 'bootstrap-containers') && path[2] === 'source' && typeof v === 'string') found.push([path.join('.'), path[1]!, v]);
  };
  walk([], value);
  return found;
}

/** `KEY=VALUE` arguments → a map; the server parses each value by its key's type. */
export function parseAssignments(args: readonly string[]): Record<string, string> {
  const values: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new UsageError(`argument ${JSON.stringify(arg)}: expected KEY=VALUE`);
    const key = arg.slice(0, eq);
    if (key in values) throw new UsageError(`${key}: given more than once`);
    values[key] = arg.slice(eq + 1);
  }
  return { ...values };
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readUserFile(file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function printChanged(output: OutputFormat, changed: readonly string[]): void {
  if (output === 'json') printJson({ changed });
  else process.stdout.write(changed.length === 0 ? 'no settings changed\n' : `changed:\n${changed.map((k) => `  ${k}\n`).join('')}`);
}

export function registerSettings(program: Command): void {
  program
    .command('get')
    .description('print settings under PREFIX (all if omitted) as JSON')
    .argument('[prefix]', 'dotted prefix, e.g. host-containers.admin', settingsPrefixArg)
    .action(async (prefix: string | undefined, _opts: unknown, cmd: Command) => {
      const { client } = await connect(cmd);
      const settings = await client.settings.get(prefix);
      printJson(await redacted(settings));
      // A rolled-back image change: the setting is what was asked; say beside it what runs (on stderr, so
      // stdout stays the settings document that `apply` takes back).
      for (const [key, name, asked] of hostContainerSources(settings)) {
        const unit = await client.units.get(name).catch(() => undefined);
        const runs = unit?.runningImage;
        if (!runs || runs === asked || runs.startsWith(`${asked}@`)) continue;
        const why = unit.rollout ? ` (rollout #${unit.rollout.id} ${unit.rollout.phase === 'done' ? unit.rollout.outcome : unit.rollout.phase}${unit.rollout.reason ? `: ${unit.rollout.reason}` : ''})` : '';
        process.stderr.write(`note: ${key} is ${asked} (asked); ${name} runs ${runs}${why}\n`);
      }
    });

  program
    .command('set')
    .description('change settings: KEY=VALUE… or --json DOC; committed at once unless --tx is given')
    .argument('[assignments...]', 'KEY=VALUE pairs, e.g. host-containers.admin.enabled=true')
    .option('-j, --json <doc>', 'a JSON object of dotted or nested keys')
    .option('--tx <name>', 'stage in the named transaction instead of committing', txNameArg)
    .action(async (assignments: string[], opts: { json?: string; tx?: string }, cmd: Command) => {
      if (opts.json !== undefined && assignments.length > 0) throw new UsageError('give KEY=VALUE pairs or --json, not both');
      if (opts.json === undefined && assignments.length === 0) throw new UsageError('nothing to set: give KEY=VALUE pairs or --json DOC');
      if (opts.tx !== undefined && opts.json !== undefined) throw new UsageError('--tx takes KEY=VALUE pairs, not --json');
      const values = opts.json === undefined ? parseAssignments(assignments) : undefined;
      const { client, options } = await connect(cmd);
      if (opts.tx !== undefined) {
        await client.settings.stage(opts.tx, values ?? {});
        if (options.output === 'json') printJson({ staged: Object.keys(values ?? {}), tx: opts.tx });
        else process.stdout.write(`staged in ${opts.tx}; run "berthctl tx commit ${opts.tx}" to apply\n`);
        return;
      }
      const changed = opts.json !== undefined ? await client.settings.setJson(opts.json) : await client.settings.set(values ?? {});
      printChanged(options.output, changed);
    });

  program
    .command('apply')
    .description('apply a settings document (Bottlerocket user-data shape), TOML or JSON; "-" reads stdin')
    .argument('<file>', 'path, or - for stdin', nonEmptyArg)
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      const text = await readInput(file);
      const { client, options } = await connect(cmd);
      printChanged(options.output, await client.settings.apply(text, documentFormat(file, text)));
    });

  program
    .command('keys')
    .description('list known setting keys with their descriptions')
    .action(async (_opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const keys = await client.settings.keys();
      if (options.output === 'json') printJson(keys);
      else printTable(['KEY', 'DESCRIPTION'], keys.map((k) => [k.pattern, k.description]));
    });

  const tx = program.command('tx').description('inspect, commit or discard a named settings transaction');
  tx.command('pending')
    .description('show the changes staged in transaction NAME')
    .argument('<name>', 'transaction name', txNameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client } = await connect(cmd);
      printJson(await redacted(await client.settings.pending(name)));
    });
  tx.command('commit')
    .description('apply transaction NAME atomically')
    .argument('<name>', 'transaction name', txNameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client, options } = await connect(cmd);
      printChanged(options.output, await client.settings.commit(name));
    });
  tx.command('discard')
    .description('drop transaction NAME')
    .argument('<name>', 'transaction name', txNameArg)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const { client } = await connect(cmd);
      await client.settings.discard(name);
    });
}
