// Where and how to reach a registry, from the `container-registry.*` settings: mirrors first (in order),
// then the registry itself; HTTPS with the system CAs plus an optional bundle; plain HTTP only when the
// registry is marked insecure.
import { readFileSync } from 'node:fs';
import type { PolicySettings, RegistryCredentials } from '../../settings/index.js';
import { apiHost } from './reference.js';

export interface Endpoint {
  /** Base URL without `/v2` (`https://registry-1.docker.io`, `http://127.0.0.1:5000`). */
  readonly base: string;
  /** host[:port] of the endpoint, the key for credentials and tokens. */
  readonly host: string;
  readonly mirror: boolean;
  /** Skip TLS verification (insecure registries only). */
  readonly skipVerify: boolean;
}

export interface RegistryConfig {
  endpoints(domain: string): Endpoint[];
  credentials(host: string): RegistryCredentials | undefined;
  /** Whether `host` is marked `container-registry.insecure` (plain HTTP and unverified TLS allowed). */
  insecure?(host: string): boolean;
  /** Extra trusted CAs (PEM), added to Node's bundled roots. */
  readonly ca?: Buffer;
}

export type RegistrySettings = PolicySettings['containerRegistry'];

function parseEndpoint(url: string, skipVerify: boolean): Endpoint {
  const u = new URL(url);
  // Mirrors are configured as base URLs; tolerate a trailing /v2 as some tools write it.
  const base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '').replace(/\/v2$/, '')}`;
  return { base, host: u.host, mirror: true, skipVerify };
}

export function registryConfig(settings: RegistrySettings): RegistryConfig {
  let ca: Buffer | undefined;
  if (settings.caBundle) ca = readFileSync(settings.caBundle);
  const insecure = (host: string): boolean => settings.insecure.get(host) === true;
  return {
    ...(ca ? { ca } : {}),
    endpoints(domain) {
      const host = apiHost(domain);
      const mirrors = settings.mirrors.get(domain) ?? settings.mirrors.get(host) ?? settings.mirrors.get('*') ?? [];
      const out = mirrors.map((m) => parseEndpoint(m, insecure(new URL(m).host)));
      if (insecure(domain) || insecure(host)) {
        // As Docker does for insecure registries: HTTPS without verification first, then plain HTTP.
        out.push({ base: `https://${host}`, host, mirror: false, skipVerify: true }, { base: `http://${host}`, host, mirror: false, skipVerify: true });
      } else {
        out.push({ base: `https://${host}`, host, mirror: false, skipVerify: false });
      }
      return out;
    },
    insecure: (host) => insecure(host),
    credentials(host) {
      const c = settings.credentials;
      if (host === 'registry-1.docker.io') return c.get('docker.io') ?? c.get('index.docker.io') ?? c.get(host);
      return c.get(host);
    },
  };
}

/** user/password from the settings' username+password or Docker-style `auth` (base64 user:password). */
export function basicCredentials(c: RegistryCredentials | undefined): { username: string; password: string } | undefined {
  if (!c) return undefined;
  if (c.username !== undefined && c.password !== undefined) return { username: c.username, password: c.password };
  if (c.auth) {
    const decoded = Buffer.from(c.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}
