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
export { SETTINGS, settingsHelp } from './registry.js';
export type { SettingDefinition, SettingsFamily, Wildcard } from './model.js';
export {
  FAMILIES,
  bootstrapContainersFamily,
  containerRegistryFamily,
  hostContainersFamily,
  imagesFamily,
  ociRuntimeFamily,
  fleetFamily,
  selinuxFamily,
  workloadsFamily,
  updatesFamily,
  SELINUX_MODES,
  BOOTSTRAP_MODES,
  WORKLOAD_RUNTIMES,
  PULL_POLICIES,
  OCI_RUNTIME_NAMES,
} from './families/index.js';
export type {
  BootstrapContainerSettings,
  BootstrapMode,
  ContainerRegistrySettings,
  FleetSettings,
  HostContainerSettings,
  ImagesSettings,
  OciRuntimeSettings,
  PullPolicy,
  RegistryCredentials,
  SelinuxMode,
  SelinuxSettings,
  WorkloadRuntime,
  WorkloadsSettings,
} from './families/index.js';
export { policyOf, readFamily } from './views.js';
export type { PolicySettings } from './views.js';
export { resolveKey, resolvePrefix } from './keys.js';
export { REDACTED, isSecretKey, redactSettings } from './redact.js';
export type { ResolvedKey, ResolvedPrefix, Resolution } from './keys.js';
export { parseAssignments } from './assignments.js';
export { SETTINGS_FILE_VERSION, settingsFilePath } from './persistence.js';
export type { FileWriter } from './persistence.js';
export { parseDocument } from './document.js';
export { checkChanges } from './validate.js';
export { fleetNameProblem, isLoopbackHost } from './families/fleet.js';
