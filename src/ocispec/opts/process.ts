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

/**
 * Image env, then unit env; a unit variable replaces the image's in place (its first occurrence). Linear:
 * an index by name instead of a search per variable (4,096 variables searched one by one took seconds).
 */
export const withEnv: SpecOpt = (spec, { unit, ctx }) => produce(spec, (s) => {
  const env = ctx.imageConfig.env.length > 0 ? [...ctx.imageConfig.env] : [DEFAULT_PATH_ENV];
  const at = new Map<string, number>();
  env.forEach((e, i) => {
    const eq = e.indexOf('=');
    const name = eq < 0 ? e : e.slice(0, eq);
    if (!at.has(name)) at.set(name, i);
  });
  for (const [key, value] of Object.entries(unit.env)) {
    const entry = `${key}=${value}`;
    const i = at.get(key);
    if (i !== undefined) env[i] = entry;
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
