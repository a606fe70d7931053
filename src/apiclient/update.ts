// `berth-apiclient update check|apply|cancel` and `reboot`: Bottlerocket apiclient's high-level commands,
// each a sequence of the raw requests (./routes.ts) that waits for berthd's operation to end, as apiclient
// waits for thar-be-updates.
import type { UpdateStatusInfo } from '../wire/updates.js';
import { failureLine, route, type HttpRequest, type UpdatesBackend } from './routes.js';
import { bottlerocketUpdateStatus } from './shapes.js';

/** A failed step, its message already worded for stderr. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

/** How often a waiting command asks for the status: prepare downloads for minutes, a human waits. */
const POLL_MS = 250;

async function request(b: UpdatesBackend, req: HttpRequest): Promise<string> {
  const res = await route(req, b);
  if (res.status >= 300) throw new CommandFailed(failureLine(req, res));
  return res.body;
}

const post = (b: UpdatesBackend, uri: string): Promise<string> => request(b, { method: 'POST', uri });

/** The status once no update operation runs; the command `type` must have ended in Success. */
async function settled(b: UpdatesBackend, type: string, what: string): Promise<UpdateStatusInfo> {
  for (;;) {
    const s = await b.status();
    if (!s.operation) {
      const c = s.mostRecentCommand;
      if (c && c.cmdType === type && c.cmdStatus === 'Failed') throw new CommandFailed(`Failed to ${what}: ${c.stderr}`);
      return s;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function check(b: UpdatesBackend, out: (text: string) => void): Promise<UpdateStatusInfo> {
  await post(b, '/actions/refresh-updates');
  const s = await settled(b, 'refresh', 'check for updates');
  out(`${JSON.stringify(bottlerocketUpdateStatus(s), null, 2)}\n`);
  return s;
}

export async function updateCheck(b: UpdatesBackend, out: (text: string) => void): Promise<void> {
  await check(b, out);
}

export async function updateApply(b: UpdatesBackend, o: { check: boolean; reboot: boolean }, out: (text: string) => void, note: (text: string) => void): Promise<void> {
  let s = o.check ? await check(b, out) : await b.status();
  if (s.state === 'idle') throw new CommandFailed('No update available (run update check, or update apply --check)');
  if (s.state !== 'ready') {
    if (s.state === 'available') {
      note(`Preparing update to ${s.chosenVersion ?? '?'}\n`);
      await post(b, '/actions/prepare-update');
      s = await settled(b, 'prepare', 'prepare the update');
    }
    note(`Activating update to ${s.chosenVersion ?? '?'}\n`);
    await post(b, '/actions/activate-update');
    s = await settled(b, 'activate', 'activate the update');
  }
  if (s.state !== 'ready') throw new CommandFailed(`Update did not become ready (state ${s.state})`);
  note(`Update ${s.chosenVersion ?? ''} is ready: it boots next\n`);
  if (o.reboot) await reboot(b, note);
}

export async function updateCancel(b: UpdatesBackend): Promise<void> {
  await post(b, '/actions/deactivate-update');
  await settled(b, 'deactivate', 'deactivate the update');
}

/** POST /actions/reboot; berthd's answer ("rebooting into 2.0.0") is said once it is in. */
export async function reboot(b: UpdatesBackend, say: (text: string) => void): Promise<void> {
  const req: HttpRequest = { method: 'POST', uri: '/actions/reboot' };
  const res = await route(req, b);
  if (res.status >= 300) throw new CommandFailed(failureLine(req, res));
  if (res.note) say(`${res.note}\n`);
}
