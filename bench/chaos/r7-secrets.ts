// R7: secrets and log isolation. A registry password and secret user-data go in through every settings path
// (set, apply TOML and JSON, a staged transaction, a malformed document) and must come out of none: not from
// `get` (either output mode), `tx pending`, the events stream, `status`, nor berthd's own log. Unit and
// workload logs must be 0640 in a 0750 dir, owned by root; a removed workload's logs must be gone, and a new
// workload of the same name must not see a line of its predecessor's, however quickly it comes back.
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hostUnit, IDLE, waitUnit } from '../../tests/support/units.js';
import { BUSYBOX_REF } from '../../tests/support/images.js';
import { waitFor } from '../../tests/support/wait.js';
import type { BerthClient, WatchEvent, WorkloadRequest } from '../../src/cli/client.js';
import type { TestBerthd } from '../../tests/support/berthd.js';
import { client, dropBerthd, newBerthd, type ChaosEnv } from './env.js';
import { Tally, type Row } from './lib.js';

const execFileP = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../berthctl/berthctl.cjs');
const HOST = 'registry.r7.example:5000';

interface CliResult {
  code: number;
  out: string;
}

async function berthctl(b: TestBerthd, args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, '--socket', b.socket, ...args], { timeout: 60_000 });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** Problems if `text` contains any of the secrets (or a long-enough piece of one). */
function leaks(where: string, text: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => text.includes(s) || text.includes(s.slice(1, -1))).map((s) => `${where} shows ${s.slice(0, 4)}…`);
}

function workload(name: string, script: string): WorkloadRequest {
  return {
    name, image: BUSYBOX_REF, command: ['/bin/sh', '-c', script], env: {}, mounts: [], restart: 'always', capAdd: [],
    privileged: false, hostNetwork: false, hostPid: false, devices: [],
  };
}

async function logText(cl: BerthClient, name: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const l of cl.workloads.logs(name)) lines.push(l.line);
  return lines;
}

async function modeProblems(file: string, mode: number): Promise<string[]> {
  const st = await stat(file);
  const out: string[] = [];
  if ((st.mode & 0o777) !== mode) out.push(`${file}: mode ${(st.mode & 0o777).toString(8)}, want ${mode.toString(8)}`);
  if (st.uid !== 0) out.push(`${file}: owner ${st.uid}, want root`);
  return out;
}

export async function r7Secrets(env: ChaosEnv): Promise<Row[]> {
  const t = new Tally('R7 security: secrets and log isolation');
  const seedTag = String(env.seed % 100_000);
  const password = `pw-${seedTag}-Zk7q`;
  const staged = `staged-${seedTag}-Qv2`;
  const userData = `ud-token-${seedTag}-Xa9`;
  const secrets = [password, staged, userData];
  const reuses = env.mode === 'full' ? 6 : 2;
  let b: TestBerthd | undefined;
  let cl: BerthClient | undefined;
  try {
    b = await newBerthd(env, { units: { hc: hostUnit('hc', `echo hc-up; ${IDLE}`) } });
    await b.start(120_000);
    cl = client(b);
    const bd = b;
    const c = cl;
    await waitUnit(c, 'hc', (u) => u.state === 'running', 60_000, 'running');

    // Everything that happens while secrets go in: a unit restart included (user-data changes hc's spec).
    const events: WatchEvent[] = [];
    const watch = new AbortController();
    const watching = (async () => {
      for await (const ev of c.events.watch({ signal: watch.signal })) events.push(ev);
    })().catch(() => undefined);
    await waitFor(() => events.length > 0, 10_000, 'events hello');

    await t.run('set echoes no secret', async () => {
      const r = await berthctl(bd, ['set', `container-registry.credentials.${HOST}.username=robot`, `container-registry.credentials.${HOST}.password=${password}`,
        `host-containers.hc.source=${BUSYBOX_REF}`, `host-containers.hc.enabled=true`, `host-containers.hc.user-data=${Buffer.from(userData).toString('base64')}`]);
      return r.code !== 0 ? [`exit ${r.code}: ${r.out.slice(0, 200)}`] : leaks('set', r.out, secrets);
    });
    await t.run('apply (TOML and JSON) echoes no secret', async () => {
      const toml = path.join(bd.dir, 'r7.toml');
      const json = path.join(bd.dir, 'r7.json');
      await writeFile(toml, `[settings.container-registry.credentials."${HOST}"]\npassword = "${password}"\n`);
      await writeFile(json, JSON.stringify({ settings: { 'container-registry': { credentials: { [HOST]: { password } } } } }));
      const out: string[] = [];
      for (const f of [toml, json]) {
        const r = await berthctl(bd, ['apply', f]);
        if (r.code !== 0) out.push(`apply ${path.basename(f)}: exit ${r.code}`);
        out.push(...leaks(`apply ${path.basename(f)}`, r.out, secrets));
      }
      return out;
    });
    await t.run('a malformed document or bad value is refused without quoting the secret', async () => {
      const out: string[] = [];
      const broken = await berthctl(bd, ['set', '--json', `{"container-registry": {"credentials": {"${HOST}": {"password": ${password}}}}}`]);
      if (broken.code === 0) out.push('broken JSON accepted');
      out.push(...leaks('broken JSON error', broken.out, secrets));
      const bad = await berthctl(bd, ['set', `host-containers.hc.user-data=*${userData}*`]);
      if (bad.code === 0) out.push('bad user-data accepted');
      out.push(...leaks('bad user-data error', bad.out, secrets));
      return out;
    });
    await t.run('tx pending shows the staged key, not its value', async () => {
      const s = await berthctl(bd, ['set', '--tx', 'r7', `container-registry.credentials.${HOST}.password=${staged}`]);
      const p = await berthctl(bd, ['tx', 'pending', 'r7']);
      await berthctl(bd, ['tx', 'discard', 'r7']);
      const out = [...leaks('set --tx', s.out, secrets), ...leaks('tx pending', p.out, secrets)];
      if (!p.out.includes('<redacted>')) out.push(`tx pending: ${p.out.slice(0, 200)}`);
      return out;
    });
    await t.run('get, in both output modes and by prefix, shows "<redacted>" only', async () => {
      const out: string[] = [];
      for (const args of [['get'], ['-o', 'json', 'get'], ['get', 'container-registry'], ['get', `host-containers.hc`]]) {
        const r = await berthctl(bd, args);
        if (r.code !== 0 || !r.out.includes('<redacted>')) out.push(`${args.join(' ')}: exit ${r.code}, ${r.out.slice(0, 120)}`);
        out.push(...leaks(args.join(' '), r.out, secrets));
      }
      out.push(...leaks('Settings.Get', JSON.stringify(await c.settings.get()), secrets));
      return out;
    });
    await t.run('the secrets are stored and used (hc got its user-data)', async () => {
      const hc = await waitUnit(c, 'hc', (u) => u.state === 'running' && u.events.some((e) => e.message === 'spec changed'), 60_000, 'restarted with user-data');
      const file = path.join(bd.stateDir, 'host-containers', 'hc', 'user-data');
      const onDisk = await readFile(file, 'utf8').catch(() => '');
      return hc.state === 'running' && onDisk.includes(userData) ? [] : [`hc ${hc.state}, user-data file ${JSON.stringify(onDisk.slice(0, 20))}`];
    });
    watch.abort();
    await watching;
    await t.run('events, status and berthd\'s log carry no secret', async () => {
      const st = await berthctl(bd, ['status', 'hc']);
      return [...leaks('events', JSON.stringify(events), secrets), ...leaks('status', st.out, secrets), ...leaks('berthd log', bd.log(), secrets)];
    });

    // ---- logs ----
    await t.run('unit log 0640 root in a 0750 dir', async () => {
      const dir = path.join(bd.stateDir, 'logs');
      await waitFor(async () => (await readFile(path.join(dir, 'hc.log'), 'utf8').catch(() => '')).includes('hc-up'), 30_000, 'hc log line');
      return [...(await modeProblems(dir, 0o750)), ...(await modeProblems(path.join(dir, 'hc.log'), 0o640))];
    });
    const wlDir = path.join(bd.stateDir, 'workloads', 'logs');
    for (let i = 0; i < reuses; i++) {
      await t.run(`same-name workload #${i + 1}: its own lines only, 0640, removed with it`, async () => {
        const line = `life-${i}-of-reuse`;
        await c.workloads.run(workload('reuse', `echo ${line}; ${IDLE}`));
        await waitFor(async () => (await logText(c, 'reuse')).includes(line), 60_000, `${line} logged`);
        const lines = await logText(c, 'reuse');
        const out: string[] = [];
        const old = lines.filter((l) => /^life-\d+-of-reuse$/.test(l) && l !== line);
        if (old.length > 0) out.push(`sees ${old.join(',')}`);
        out.push(...(await modeProblems(wlDir, 0o750)), ...(await modeProblems(path.join(wlDir, 'reuse.log'), 0o640)));
        await c.workloads.remove('reuse');
        const left = (await readdir(wlDir)).filter((f) => f.startsWith('reuse.log'));
        if (left.length > 0) out.push(`left after rm: ${left.join(',')}`);
        return out;
      });
    }
  } finally {
    cl?.close();
    if (b) await dropBerthd(env, b);
  }
  return [t.row()];
}
