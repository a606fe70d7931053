// fleet.*: membership of an etcd-coordinated fleet (src/fleet/). Only the values' shapes are checked here;
// the rules between keys (TLS material for https endpoints, override keys that exist) are in
// ../fleet-rules.ts, checked on the whole state at every commit.

import { z } from 'zod';
import { family, settingMeta } from '../model.js';
import { absolutePath, listValue, stringValue } from '../values.js';

/** A group or host id is one segment of an etcd key (`/berth/<group>/hosts/<host-id>`): no `/`. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function fleetNameProblem(text: string): string | undefined {
  return NAME.test(text) ? undefined : 'expected 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)';
}

/** 127.0.0.0/8, ::1 and localhost: the only hosts plain (unencrypted, unauthenticated) etcd is allowed to. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function etcdEndpointProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'expected an http(s)://host:port URL';
  }
  if (/\s/.test(text) || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.port === '') return 'expected an http(s)://host:port URL';
  if (url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
    return 'expected only scheme, host and port';
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    return 'plain http is allowed only to loopback (127.0.0.1, ::1, localhost); use https:// with fleet.etcd.ca, fleet.etcd.cert and fleet.etcd.key';
  }
  return undefined;
}

const KEY_TEXT = /^[a-z0-9][a-z0-9<>._-]*$/i;

export const fleet = z.object({
  etcd: z.object({
    endpoints: listValue('etcd endpoint URLs (https://host:2379)', etcdEndpointProblem).prefault([]).register(settingMeta, {
      description: 'etcd client URLs of the fleet\'s cluster; empty: this host is in no fleet. https needs fleet.etcd.ca/cert/key; plain http only to loopback.',
    }),
    ca: absolutePath().optional().register(settingMeta, { description: 'PEM file of the CA that signs the etcd servers\' certificates.' }),
    cert: absolutePath().optional().register(settingMeta, { description: 'PEM file of this host\'s client certificate for etcd (mutual TLS).' }),
    // Only a path, but shown as <redacted> like every key named key: where a private key lives is nobody's business.
    key: absolutePath().optional().register(settingMeta, { sensitive: true, description: 'PEM file of the private key of fleet.etcd.cert.' }),
  }).prefault({}),
  group: stringValue('group name', fleetNameProblem).optional().register(settingMeta, {
    description: 'The fleet group this host belongs to: its record is /berth/<group>/hosts/<host-id>, its fleet settings /berth/<group>/settings.',
  }),
  hostId: stringValue('host id', fleetNameProblem).optional().register(settingMeta, {
    description: 'This host\'s id in the fleet; default: the content of /etc/machine-id.',
  }),
  // Text like every setting value; readers get the number.
  maxConcurrentReboots: stringValue('1-1000', (t) => (/^[1-9]\d{0,3}$/.test(t) && Number(t) <= 1000 ? undefined : 'expected a whole number from 1 to 1000'))
    .transform(Number).prefault('1').register(settingMeta, {
      description: 'How many hosts of the group may reboot into an update at once (updates.reboot-strategy = etcd); berthctl fleet update --max-concurrent overrides it for a rollout.',
    }),
  localOverrides: listValue('settings keys or prefixes', (k) => (KEY_TEXT.test(k) ? undefined : 'expected a settings key or prefix')).prefault([]).register(settingMeta, {
    description: 'Keys (or prefixes) where a value set on this host through the API wins over the fleet settings document; elsewhere the fleet\'s value wins.',
  }),
});

export type FleetSettings = z.output<typeof fleet>;

export const fleetFamily = family('fleet', fleet);
