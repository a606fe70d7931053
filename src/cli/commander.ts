// commander, loaded with require(): it is a CommonJS package, and importing it from ESM first runs Node's
// scan of its exports (cjs-module-lexer), ~8 ms of every berthctl start (issue 16). Modules of berthctl take
// commander's values from here; `import type` from 'commander' stays as it is.
import { createRequire } from 'node:module';
import type * as Commander from 'commander';

const commander = createRequire(import.meta.url)('commander') as typeof Commander;

export const { Command, CommanderError, InvalidArgumentError, Option } = commander;
export type Command = Commander.Command;
export type CommanderError = Commander.CommanderError;
export type InvalidArgumentError = Commander.InvalidArgumentError;
export type Option = Commander.Option;
