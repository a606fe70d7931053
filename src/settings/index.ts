// Public surface of the settings store. Other rooms (daemon, api, supervisor) import from here only.

export { SettingsStore } from './store.js';
export type { CommitListener, CommitResult, SettingsStoreOptions } from './store.js';
export type { ChangeMap, StagedChange } from './validate.js';
export { VALUE_SIZE_LIMIT, SETTINGS_MAX_BYTES, SETTINGS_MAX_KEYS } from './validate.js';
export { SettingsError, formatIssue } from './errors.js';
export type { SettingIssue, SettingsErrorCode } from './errors.js';
export type { DocumentFormat } from './document.js';
export type { SettingsTree } from './tree.js';
export type { SettingValue, ValueKind, ValueType } from './values.js';
export {
  SETTINGS,
  WILDCARDS,
  settingsHelp,
  SELINUX_MODES,
  BOOTSTRAP_MODES,
  WORKLOAD_RUNTIMES,
  PULL_POLICIES,
} from './registry.js';
export type { SettingDefinition, Wildcard } from './registry.js';
export { resolveKey, resolvePrefix } from './keys.js';
export { REDACTED, isSecretKey, redactSettings } from './redact.js';
export type { ResolvedKey, ResolvedPrefix, Resolution } from './keys.js';
export { parseAssignments } from './assignments.js';
export type {
  BootstrapContainerSettings,
  BootstrapMode,
  HostContainerSettings,
  PolicySettings,
  PullPolicy,
  RegistryCredentials,
  SelinuxMode,
  WorkloadRuntime,
} from './accessors.js';
export { SETTINGS_FILE_VERSION, settingsFilePath } from './persistence.js';
export type { FileWriter } from './persistence.js';
