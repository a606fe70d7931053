// etcd's own counters (Prometheus text on each member's client URL, /metrics): what the fleet costs etcd,
// counted by etcd rather than by the clients. Summed over the members: a client request is handled (and
// counted) by the member it reached; forwarding to the leader goes over raft, not gRPC, so nothing is
// counted twice.

export interface Sample {
  /** `name{labels}` → value, summed over the members. */
  readonly values: ReadonlyMap<string, number>;
  readonly at: number;
}

/** `name{a="x",b="y"} 12` → [`name`, {a: 'x', b: 'y'}, 12]. */
export function parseLine(line: string): [string, Record<string, string>, number] | undefined {
  if (line === '' || line.startsWith('#')) return undefined;
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
  if (!m) return undefined;
  const labels: Record<string, string> = {};
  for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
  return [m[1]!, labels, Number(m[4])];
}

export async function scrape(clientPorts: readonly number[]): Promise<Sample> {
  const values = new Map<string, number>();
  const texts = await Promise.all(clientPorts.map(async (port) => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`etcd metrics on port ${port}: HTTP ${res.status}`);
    return res.text();
  }));
  for (const text of texts) {
    for (const line of text.split('\n')) {
      const p = parseLine(line);
      if (!p) continue;
      const [name, labels] = p;
      const key = `${name}{${Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')}}`;
      values.set(key, (values.get(key) ?? 0) + p[2]);
    }
  }
  return { values, at: performance.now() };
}

/** Sum of every series of `name` whose labels include `where`. */
export function total(s: Sample, name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, v] of s.values) {
    const brace = key.indexOf('{');
    if (key.slice(0, brace) !== name) continue;
    const labels = key.slice(brace + 1, -1);
    if (Object.entries(where).every(([k, val]) => labels.split(',').includes(`${k}=${val}`))) sum += v;
  }
  return sum;
}

/** Per gRPC method (`Service/Method`), the change of `name` between two samples. */
export function byMethod(before: Sample, after: Sample, name: string, where: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, v] of after.values) {
    if (!key.startsWith(`${name}{`)) continue;
    const labels = Object.fromEntries(key.slice(name.length + 1, -1).split(',').map((kv) => kv.split('=') as [string, string]));
    if (!Object.entries(where).every(([k, val]) => labels[k] === val)) continue;
    const method = `${(labels['grpc_service'] ?? '').replace(/^etcdserverpb\./, '')}/${labels['grpc_method'] ?? ''}`;
    const d = v - (before.values.get(key) ?? 0);
    if (d > 0) out[method] = (out[method] ?? 0) + d;
  }
  return out;
}
