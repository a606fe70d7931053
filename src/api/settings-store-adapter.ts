// SettingsApi over the settings store (src/settings), for the daemon's wiring. Pure translation: the store
// validates, commits and persists; its SettingsError already names each bad key and is mapped to
// INVALID_ARGUMENT by src/api/errors.ts.
import { SETTINGS, type SettingsStore } from '../settings/index.js';
import { ValidationError } from './errors.js';
import type { SettingsApi } from './services.js';

function parseJsonObject(json: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ValidationError('json', `invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('json', 'expected a JSON object of settings');
  }
  return value as Record<string, unknown>;
}

export function settingsApiFromStore(store: SettingsStore): SettingsApi {
  const changed = (r: { changedKeys: readonly string[] }): { changed: string[] } => ({ changed: [...r.changedKeys] });
  return {
    get: async (prefix) => store.get(prefix),
    set: async (values) => changed(await store.set(values)),
    setJson: async (json) => changed(await store.set(parseJsonObject(json))),
    apply: async (document, format) => changed(await store.apply(document, format)),
    stage: async (tx, values) => {
      store.stage(tx, values);
    },
    commit: async (tx) => changed(await store.commit(tx)),
    discard: async (tx) => {
      store.discard(tx);
    },
    pending: async (tx) => {
      const out: Record<string, unknown> = {};
      for (const change of store.pending(tx)) out[change.key] = change.op === 'set' ? change.value : null;
      return out;
    },
    keys: () => SETTINGS.map((d) => ({ pattern: d.pattern, description: d.description })),
  };
}
