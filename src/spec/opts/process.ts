// SpecOpts for the process: what runs, with which environment, where, as whom.
import type { SpecOpt } from '../types.js';
import { DEFAULT_PATH_ENV } from '../defaults.js';
import { produce } from './util.js';

/**
 * args = (command ?? entrypoint) + (args ?? cmd). Setting `command` alone drops
 * the image cmd, as Docker (--entrypoint) and Kubernetes (command) do: the
 * image's cmd was written for the image's entrypoint, not for a replacement.
 */
export const withProcessArgs: SpecOpt = (spec, { unit, ctx }) => produce(spec, (s) => {
  const entry = unit.command ?? ctx.imageConfig.entrypoint;
  const cmd = unit.args ?? (unit.command !== undefined ? [] : ctx.imageConfig.cmd);
  s.process.args = [...entry, ...cmd];
});

/** Image env, then unit env; a unit variable replaces the image's in place. */
export const withEnv: SpecOpt = (spec, { unit, ctx }) => produce(spec, (s) => {
  const env = ctx.imageConfig.env.length > 0 ? [...ctx.imageConfig.env] : [DEFAULT_PATH_ENV];
  for (const [key, value] of Object.entries(unit.env)) {
    const entry = `${key}=${value}`;
    const at = env.findIndex((e) => e.split('=', 1)[0] === key);
    if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  s.process.env = env;
});

export const withCwd: SpecOpt = (spec, { unit, ctx }) => produce(spec, (s) => {
  s.process.cwd = unit.workingDir ?? (ctx.imageConfig.workingDir === '' ? '/' : ctx.imageConfig.workingDir);
});

export const withUser: SpecOpt = (spec, { user }) => produce(spec, (s) => {
  s.process.user = { ...user };
});

/** Only superpowered units may gain privileges through setuid binaries or file capabilities. */
export const withNoNewPrivileges: SpecOpt = (spec, { unit }) => produce(spec, (s) => {
  s.process.noNewPrivileges = !unit.superpowered;
});
