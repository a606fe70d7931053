// `berthctl validate FILE…`: offline checks of unit specs and settings documents (see ../validate.ts).
import type { Command } from 'commander';
import { existingFileArg } from '../arguments.js';
import { globalOptions } from '../context.js';
import { ReportedFailure } from '../errors.js';
import { printJson } from '../output.js';
import { defaultSettingsFile, formatFileIssue, validateFile, type FileResult } from '../validate.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check unit specs and settings documents offline (no daemon); non-zero exit on any error')
    .argument('<files...>', 'unit .toml files (in a units dir, or with a top-level "class") or settings documents')
    .option('--defaults <file>', 'settings defaults to validate documents against (default: the shipped ones)', existingFileArg)
    .action(async (files: string[], opts: { defaults?: string }, cmd: Command) => {
      const { output } = globalOptions(cmd);
      const defaults = opts.defaults ?? (await defaultSettingsFile());
      const results: FileResult[] = [];
      for (const file of files) results.push(await validateFile(file, defaults));
      if (output === 'json') {
        printJson(results);
      } else {
        for (const r of results) {
          if (r.ok) process.stdout.write(`${r.file}: ok (${r.kind})\n`);
          for (const e of r.errors) process.stderr.write(`${formatFileIssue(r.file, e)}\n`);
        }
      }
      if (results.some((r) => !r.ok)) throw new ReportedFailure();
    });
}
