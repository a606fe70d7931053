// Whole-state rules of the fleet.* family (checked at every commit, next to the other whole-state rules in
// state.ts): they relate keys to each other, which a single value's rule cannot.

import type { SettingIssue } from './errors.js';
import { resolvePrefix } from './keys.js';
import type { SettingsMap } from './state.js';

const TLS_KEYS = ['fleet.etcd.ca', 'fleet.etcd.cert', 'fleet.etcd.key'] as const;

export function fleetIssues(effective: SettingsMap): SettingIssue[] {
  const issues: SettingIssue[] = [];
  const endpoints = effective.get('fleet.etcd.endpoints');
  const list = Array.isArray(endpoints) ? (endpoints as readonly string[]) : [];
  const https = list.filter((e) => e.startsWith('https:'));
  if (https.length > 0 && https.length < list.length) {
    issues.push({ key: 'fleet.etcd.endpoints', message: 'all endpoints must use the same scheme (https or, on loopback, http)' });
  }
  if (https.length > 0) {
    for (const key of TLS_KEYS) {
      if (!effective.has(key)) issues.push({ key, message: 'required for https etcd endpoints (mutual TLS)' });
    }
  }
  const overrides = effective.get('fleet.local-overrides');
  for (const key of Array.isArray(overrides) ? (overrides as readonly string[]) : []) {
    const resolution = resolvePrefix(key);
    if (!resolution.ok) issues.push({ key: 'fleet.local-overrides', message: `${JSON.stringify(key)}: ${resolution.message}` });
  }
  if (effective.get('updates.reboot-strategy') === 'fleetlock' && !effective.has('updates.fleetlock-url')) {
    issues.push({ key: 'updates.fleetlock-url', message: 'required when updates.reboot-strategy = fleetlock (the FleetLock server to ask)' });
  }
  return issues;
}
