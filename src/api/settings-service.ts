// berth.v1.Settings: a thin translation to SettingsApi. Values stay text/JSON on the wire; the settings
// module decides types, so this file never needs to change when a setting is added. Whatever implements
// SettingsApi, values of secret keys (registry passwords, tokens, user-data) leave only as "<redacted>".
import type * as grpc from '@grpc/grpc-js';
import { redactSettings } from '../settings/redact.js';
import { unary } from './calls.js';
import { ValidationError } from './errors.js';
import type { SettingsApi } from './services.js';

type Values = Record<string, string>;
type Changed = { changed: string[] };

function format(document: string, given: string): 'toml' | 'json' {
  if (given === 'toml' || given === 'json') return given;
  if (given !== '') throw new ValidationError('format', `expected "toml" or "json", got ${JSON.stringify(given)}`);
  // Unspecified: a JSON document starts with an object; TOML can't start with "{".
  return document.trimStart().startsWith('{') ? 'json' : 'toml';
}

function txName(tx: string): string {
  if (tx === '') throw new ValidationError('tx', 'a transaction name is required');
  return tx;
}

/** The map field decoded by protobufjs, copied so no value other than a string slips through. */
function values(map: Values | undefined): Values {
  const out: Values = {};
  for (const [k, v] of Object.entries(map ?? {})) out[k] = String(v);
  return out;
}

const changed = (r: { changed: readonly string[] }): Changed => ({ changed: [...r.changed] });

export function settingsService(settings: SettingsApi): grpc.UntypedServiceImplementation {
  return {
    Get: unary<{ prefix: string }, { json: string }>(async ({ prefix }) => ({
      json: JSON.stringify(redactSettings((await settings.get(prefix === '' ? undefined : prefix)) ?? {})),
    })),
    Set: unary<{ values: Values }, Changed>(async (req) => changed(await settings.set(values(req.values)))),
    SetJson: unary<{ json: string }, Changed>(async ({ json }) => changed(await settings.setJson(json))),
    Apply: unary<{ document: string; format: string }, Changed>(async (req) =>
      changed(await settings.apply(req.document, format(req.document, req.format))),
    ),
    Stage: unary<{ tx: string; values: Values }, Record<string, never>>(async (req) => {
      await settings.stage(txName(req.tx), values(req.values));
      return {};
    }),
    Commit: unary<{ tx: string }, Changed>(async ({ tx }) => changed(await settings.commit(txName(tx)))),
    Discard: unary<{ tx: string }, Record<string, never>>(async ({ tx }) => {
      await settings.discard(txName(tx));
      return {};
    }),
    Pending: unary<{ tx: string }, { json: string }>(async ({ tx }) => ({
      json: JSON.stringify(redactSettings(await settings.pending(txName(tx)))),
    })),
    Keys: unary<Record<string, never>, { keys: { pattern: string; description: string }[] }>(() => ({
      keys: settings.keys().map((k) => ({ pattern: k.pattern, description: k.description })),
    })),
  };
}
