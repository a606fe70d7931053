// The vocabulary settings families are written in (src/settings/families/), and the one walk that turns a
// family's zod schema into the flat key list validation, `--help`, `settings keys` and redaction use.
//
// A family is one zod schema: objects for fixed key segments, `instances()` for a wildcard segment, and
// leaves (fields) registered in `settingMeta` with their description, sensitivity and, rarely, a key
// spelling. What a leaf needs beyond that is read from zod itself:
//   - the rule, the `--help` hint and the CLI text parsing come from its value type (src/settings/values.ts);
//   - `.prefault(v)` is its fallback (a stored-form value, checked by the same rule), `.optional()` makes it
//     optional, neither makes it required — every instance of its wildcard must set it;
//   - a `.transform()` after the value type shapes what readers get (milliseconds for "30s") while the
//     stored form stays the value type's.
// The readers' TypeScript types are z.output of the same schema, so no shape is declared twice.

import { z } from 'zod';
import { valueTypeOf, type SettingValue, type ValueType } from './values.js';

export interface SettingMeta {
  readonly description: string;
  /**
   * A secret: never shown. `get`/`tx pending` (API and berthctl) show "<redacted>" instead of the value
   * (src/settings/redact.ts), error messages say "(hidden)", and nothing logs it. Stored and used as usual.
   */
  readonly sensitive?: boolean;
  /** The key segment, when it is not the property name in kebab-case (`identitytoken`, `pull-timeout`). */
  readonly key?: string;
}

/** Marks a schema as one setting (a leaf); see the file comment for what else a leaf carries. */
export const settingMeta = z.registry<SettingMeta>();

export interface WildcardMeta {
  /** As written in patterns: `<name>`. */
  readonly placeholder: string;
  /** Used in errors: `invalid container name "a/b": …`. */
  readonly label: string;
}

/** Marks a key schema of `instances()` as a wildcard segment. */
export const wildcardMeta = z.registry<WildcardMeta>();

/**
 * Instances keyed by a variable key segment (container names, registry hosts), in key order. `key` checks
 * the segment and must be registered in `wildcardMeta`. An absent map is an empty one.
 */
export function instances<K extends z.ZodType<string>, V extends z.ZodType>(key: K, value: V) {
  return z.map(key, value).prefault(() => new Map());
}

export interface SettingsFamily<S extends z.ZodType = z.ZodType> {
  /** The first key segment: `host-containers`, `images`. */
  readonly name: string;
  readonly schema: S;
}

export function family<S extends z.ZodType>(name: string, schema: S): SettingsFamily<S> {
  return { name, schema };
}

/** A variable key segment, with its rule. Values may contain dots (registry hosts): it can span segments. */
export interface Wildcard {
  readonly placeholder: string;
  readonly label: string;
  readonly problem: (value: string) => string | undefined;
}

/** Marks the wildcard's position in `SettingDefinition.at`. */
export const INSTANCE = Symbol('instance');
export type Step = string | typeof INSTANCE;

export interface SettingDefinition {
  /** Dotted key with at most one placeholder, e.g. `host-containers.<name>.enabled`. */
  readonly pattern: string;
  readonly type: ValueType;
  readonly description: string;
  /**
   * What a change affects, with the same placeholder: the family (`images`), or one instance of it
   * (`host-containers.<name>`) when the family is a set of instances.
   */
  readonly service: string;
  /** Value readers get when neither defaults nor operators set the key. */
  readonly fallback?: SettingValue;
  /** Every instance of the placeholder that has any setting must also have this key (checked at commit). */
  readonly required?: boolean;
  readonly sensitive?: boolean;
  readonly wildcard?: Wildcard;
  readonly family: SettingsFamily;
  /** Where the value goes in the family schema's input: property names, INSTANCE for the wildcard. */
  readonly at: readonly Step[];
}

// ---- the walk ------------------------------------------------------------------------------------------

const kebab = (property: string): string => property.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function wildcardOf(key: z.core.$ZodType, where: string): Wildcard {
  const meta = wildcardMeta.get(key);
  if (!meta || !(key instanceof z.ZodType)) throw new Error(`settings model: ${where}: instances() needs a key registered in wildcardMeta`);
  return {
    ...meta,
    problem: (value) => {
      const result = key.safeParse(value);
      return result.success ? undefined : (result.error.issues[0]?.message ?? 'invalid');
    },
  };
}

/** Wrappers that only say "absent is fine" around a structural node. */
function structural(schema: z.core.$ZodType): z.core.$ZodType {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodPrefault || schema instanceof z.ZodDefault) return structural(schema.unwrap());
  return schema;
}

interface Place {
  readonly family: SettingsFamily;
  readonly keys: readonly string[];
  readonly at: readonly Step[];
  readonly service: string;
  readonly wildcard?: Wildcard;
}

function leaf(schema: z.core.$ZodType, meta: SettingMeta, place: Place): SettingDefinition {
  const pattern = place.keys.join('.');
  let inner = schema;
  let optional = false;
  let fallback: unknown;
  for (;;) {
    if (inner instanceof z.ZodOptional) {
      optional = true;
      inner = inner.unwrap();
    } else if (inner instanceof z.ZodPrefault) {
      fallback = inner.def.defaultValue;
      inner = inner.unwrap();
    } else if (inner instanceof z.ZodPipe) {
      // value type → transform for readers: the value type is the stored form.
      inner = inner.in;
    } else break;
  }
  const type = valueTypeOf(inner);
  if (!type) throw new Error(`settings model: ${pattern}: a setting's schema must be a value type from values.ts`);
  // The wildcard's own value (a mirror list) exists exactly when its instance does: never "required".
  const required = !optional && fallback === undefined && place.at.at(-1) !== INSTANCE;
  // Outside a wildcard there is no instance to require it of; a reader would fail instead.
  if (required && !place.at.includes(INSTANCE)) throw new Error(`settings model: ${pattern}: a fixed key needs .prefault() or .optional()`);
  const checked = fallback === undefined ? undefined : type.schema.safeParse(fallback);
  if (checked !== undefined && !checked.success) throw new Error(`settings model: ${pattern}: the fallback breaks its own rule`);
  return {
    pattern,
    type,
    description: meta.description,
    service: place.service,
    family: place.family,
    at: place.at,
    ...(checked?.success ? { fallback: checked.data } : {}),
    ...(required ? { required: true } : {}),
    ...(meta.sensitive ? { sensitive: true } : {}),
    ...(place.wildcard ? { wildcard: place.wildcard } : {}),
  };
}

function walk(schema: z.core.$ZodType, place: Place, out: SettingDefinition[]): void {
  const meta = settingMeta.get(schema);
  if (meta) {
    out.push(leaf(schema, meta, place));
    return;
  }
  const node = structural(schema);
  const where = place.keys.join('.');
  if (node instanceof z.ZodObject) {
    for (const [property, child] of Object.entries(node.shape)) {
      const key = settingMeta.get(child)?.key ?? kebab(property);
      walk(child, { ...place, keys: [...place.keys, key], at: [...place.at, property] }, out);
    }
  } else if (node instanceof z.ZodMap) {
    if (place.wildcard) throw new Error(`settings model: ${where}: at most one wildcard per key`);
    const wildcard = wildcardOf(node.keyType, where);
    // A family that is a set of instances (host containers) is serviced per instance.
    const service = place.keys.length === 1 ? `${place.family.name}.${wildcard.placeholder}` : place.service;
    walk(node.valueType, { ...place, keys: [...place.keys, wildcard.placeholder], at: [...place.at, INSTANCE], service, wildcard }, out);
  } else {
    throw new Error(`settings model: ${where}: expected an object, instances() or a setting registered in settingMeta`);
  }
}

/** The family's settings, in declaration order. */
export function settingsOf(f: SettingsFamily): SettingDefinition[] {
  const out: SettingDefinition[] = [];
  walk(f.schema, { family: f, keys: [f.name], at: [], service: f.name }, out);
  return out;
}
