// container-registry.*: where and how images are pulled from, for host containers and workloads alike.

import { z } from 'zod';
import { family, instances, settingMeta } from '../model.js';
import { absolutePath, base64Auth, booleanValue, credential, endpointUrls } from '../values.js';
import { mirrorHost, registryHost } from './wildcards.js';

export const registryCredentials = z.object({
  username: credential().optional().register(settingMeta, { description: 'User name for the registry.' }),
  password: credential().optional().register(settingMeta, { sensitive: true, description: 'Password for the registry.' }),
  auth: base64Auth().optional().register(settingMeta, { sensitive: true, description: 'Docker-style auth token: base64 of "user:password".' }),
  // Spelled as Docker's config.json and Bottlerocket spell it.
  identityToken: credential().optional().register(settingMeta, {
    key: 'identitytoken',
    sensitive: true,
    description: 'Identity (refresh) token for the registry.',
  }),
});

export const containerRegistry = z.object({
  mirrors: instances(
    mirrorHost(),
    endpointUrls().register(settingMeta, { description: 'Mirror endpoints tried, in order, before the registry itself; "*" applies to every registry.' }),
  ),
  credentials: instances(registryHost(), registryCredentials),
  insecure: instances(
    registryHost(),
    booleanValue().prefault(false).register(settingMeta, { description: 'Allow plain HTTP and unverified TLS for this registry.' }),
  ),
  caBundle: absolutePath().optional().register(settingMeta, { description: 'PEM bundle of extra CAs trusted for registries.' }),
});

export type RegistryCredentials = z.output<typeof registryCredentials>;
export type ContainerRegistrySettings = z.output<typeof containerRegistry>;

export const containerRegistryFamily = family('container-registry', containerRegistry);
