// Registry authorization: answer a 401's WWW-Authenticate challenge with Basic credentials or a Bearer token
// from the challenge's realm (anonymous, basic, or an identity/refresh token), and remember the answer per
// endpoint host and scope so later requests of the pull send it up front.
import type { RegistryCredentials } from '../../settings/index.js';
import { basicCredentials } from './config.js';
import { readBody, type HttpTransport } from './http.js';
import { transient, unauthorized } from './errors.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `Bearer realm="…",service="…",scope="…"` (several challenges may share one header). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : header ?? '';
  const out: Challenge[] = [];
  const re = /([A-Za-z]+)\s+((?:[a-zA-Z_]+=(?:"[^"]*"|[^,\s]*)\s*,?\s*)+)|([A-Za-z]+)\s*(?=,|$)/g;
  for (const m of text.matchAll(re)) {
    const scheme = (m[1] ?? m[3] ?? '').toLowerCase();
    const params: Record<string, string> = {};
    for (const p of (m[2] ?? '').matchAll(/([a-zA-Z_]+)=(?:"([^"]*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
    out.push({ scheme, params });
  }
  return out;
}

interface Token {
  header: string;
  expiresAt: number;
}

/**
 * Where a registry's credentials may go when its bearer challenge names a token realm. The realm is chosen
 * by whoever answers the registry's URL, so it is untrusted: credentials configured for host H are sent
 *  - to a realm over https (verified TLS, unless the operator marked the realm's host insecure), any host;
 *  - to a realm over plain http only when it is H itself (same host and port) and H is marked
 *    `container-registry.insecure.H` — the operator already accepted plain HTTP for H;
 *  - never to a plain-http realm on another host, whatever H's settings: anyone on the path (or a registry
 *    pointing its realm at a host it controls) would read them.
 * When they are withheld the token is asked for anonymously, and a refusal says why.
 */
export function mayReceiveCredentials(registryHost: string, realm: URL, registryInsecure: boolean): boolean {
  if (realm.protocol === 'https:') return true;
  return realm.protocol === 'http:' && realm.host === registryHost && registryInsecure;
}

export class Authorizer {
  private readonly byKey = new Map<string, Token>();
  /** Per registry host: why its credentials were not sent to its token realm, for error messages. */
  private readonly withheldFor = new Map<string, string>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly credentials: (host: string) => RegistryCredentials | undefined,
    /** Hosts marked `container-registry.insecure`: plain HTTP and unverified TLS allowed. */
    private readonly insecure: (host: string) => boolean,
  ) {}

  /** Why the credentials for `host` were withheld from its token realm (empty when they were not). */
  withheld(host: string): string {
    return this.withheldFor.get(host) ?? '';
  }

  /** The Authorization header to send with a request to `host` for `scope`, if one is known. */
  header(host: string, scope: string): string | undefined {
    const t = this.byKey.get(`${host} ${scope}`) ?? this.byKey.get(`${host} *`);
    if (!t) return undefined;
    if (t.expiresAt <= Date.now()) return undefined;
    return t.header;
  }

  /**
   * Handle a 401 from `host`. Returns once a header is stored for the next attempt; throws when no
   * credentials can answer the challenge. `what` names the reference and registry in messages.
   */
  async answer(host: string, scope: string, wwwAuthenticate: string | string[] | undefined, what: string, signal?: AbortSignal): Promise<void> {
    const challenges = parseChallenges(wwwAuthenticate);
    const creds = this.credentials(host);
    const basic = basicCredentials(creds);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const token = await this.fetchToken(host, bearer, scope, creds, what, signal);
      this.byKey.set(`${host} ${scope}`, token);
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!basic) throw unauthorized(`${what}: the registry requires authentication and no credentials are configured for ${host}`);
      const header = `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
      // Basic auth does not depend on the scope: one answer serves every repository on the host.
      this.byKey.set(`${host} *`, { header, expiresAt: Number.POSITIVE_INFINITY });
      return;
    }
    throw unauthorized(`${what}: unauthorized, and the registry sent no usable challenge (${JSON.stringify(wwwAuthenticate ?? '')})`);
  }

  private async fetchToken(host: string, challenge: Challenge, scope: string, configured: RegistryCredentials | undefined, what: string, signal?: AbortSignal): Promise<Token> {
    let creds = configured;
    const realm = challenge.params.realm;
    if (!realm) throw unauthorized(`${what}: bearer challenge without a realm`);
    const service = challenge.params.service ?? '';
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw unauthorized(`${what}: bearer challenge with an invalid realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw unauthorized(`${what}: bearer challenge with a non-http(s) realm ${JSON.stringify(realm)}`);
    if (url.username || url.password) throw unauthorized(`${what}: bearer challenge with credentials in its realm URL`);
    if (creds && !mayReceiveCredentials(host, url, this.insecure(host))) {
      this.withheldFor.set(host, `the credentials for ${host} were not sent to token realm ${url.origin}: a realm gets them only over https, or over http when it is the insecure registry itself`);
      creds = undefined;
    } else {
      this.withheldFor.delete(host);
    }
    const basic = basicCredentials(creds);
    const skipVerify = this.insecure(url.host);
    let res;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as the Docker client does with an identity token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, service, scope, client_id: 'berth' });
      res = await this.transport.request(url.toString(), { method: 'POST', body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, skipVerify, ...(signal ? { signal } : {}) });
    } else {
      if (service) url.searchParams.set('service', service);
      if (scope) url.searchParams.set('scope', scope);
      const headers: Record<string, string> = basic ? { Authorization: `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}` } : {};
      res = await this.transport.request(url.toString(), { headers, skipVerify, ...(signal ? { signal } : {}) });
    }
    const body = await readBody(res, 1 << 20, () => unauthorized(`${what}: token server ${url.host} sent a response over 1 MiB`));
    const withheld = this.withheld(host);
    if ((res.status === 401 || res.status === 403) && withheld) throw unauthorized(`${what}: token server ${url.host} refused an anonymous token (HTTP ${res.status}); ${withheld}`);
    if (res.status === 401 || res.status === 403) throw unauthorized(`${what}: token server ${url.host} refused the credentials for ${host} (HTTP ${res.status})`);
    if (res.status >= 500 || res.status === 429) throw transient(`${what}: token server ${url.host} answered HTTP ${res.status}`);
    if (res.status !== 200) throw unauthorized(`${what}: token server ${url.host} answered HTTP ${res.status}`);
    const doc = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = doc.access_token ?? doc.token;
    if (!token) throw unauthorized(`${what}: token server ${url.host} returned no token`);
    // Renew a little early; the spec's default lifetime is 60 s.
    return { header: `Bearer ${token}`, expiresAt: Date.now() + Math.max((doc.expires_in ?? 60) - 10, 5) * 1000 };
  }
}
