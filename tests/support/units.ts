import { BerthClient, type UnitStatus } from '../../src/cli/client.js';
import { withDeadline } from './wait.js';
import { BUSYBOX_REF } from './images.js';

/** A host unit TOML running a shell script in the busybox test image. */
export function hostUnit(name: string, script: string, extra = ''): string {
  return `name = "${name}"
class = "host"
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(script)}]
persistent-storage = false
${extra}
[stop]
timeout = "2s"
`;
}

export function bootstrapUnit(name: string, script: string, opts: { mode?: string; essential?: boolean; order?: number } = {}): string {
  return `name = "${name}"
class = "bootstrap"
image = "${BUSYBOX_REF}"
command = ["/bin/sh", "-c", ${JSON.stringify(script)}]
persistent-storage = false
[bootstrap]
mode = "${opts.mode ?? 'once'}"
essential = ${opts.essential ?? false}
order = ${opts.order ?? 0}
`;
}

/** A long-running script that exits 0 on SIGTERM (a shell as PID 1 ignores it otherwise). */
export const IDLE = 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done';

/**
 * Wait until a unit satisfies `predicate`, re-checking on every supervisor event (the Watch stream),
 * never by sleeping. Fails after `timeoutMs` with the unit's last status.
 */
export async function waitUnit(client: BerthClient, name: string, predicate: (u: UnitStatus) => boolean, timeoutMs: number, what = 'condition'): Promise<UnitStatus> {
  const ac = new AbortController();
  let last: UnitStatus | undefined;
  const run = (async (): Promise<UnitStatus> => {
    for await (const ev of client.events.watch({ signal: ac.signal })) {
      if (ev.kind === 'hello' || ev.kind === 'daemon' || ev.unit === name) {
        last = await client.units.get(name).catch(() => undefined);
        if (last && predicate(last)) return last;
      }
    }
    throw new Error('event stream ended');
  })();
  try {
    return await withDeadline(run, timeoutMs, `${name}: ${what}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last)}`);
  } finally {
    ac.abort();
    run.catch(() => undefined);
  }
}
