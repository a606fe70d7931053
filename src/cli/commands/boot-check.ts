// `berthctl update boot-check`: berth-boot-check.service's ExecStart (image/files/berth-boot-check.service).
// Exit 0: this boot is good (systemd reaches boot-complete.target and systemd-bless-boot removes the entry's
// counter). Exit 1: it is not; the record on the state partition says which check failed, and the unit's
// FailureAction reboots the host so the entry's next try (or, with none left, the previous version) boots.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../commander.js';
import type { BerthClient } from '../client.js';
import { connect } from '../context.js';
import { ReportedFailure } from '../errors.js';
import { printJson } from '../output.js';
import {
  decodeEfiString, failedChecks, runBootCheck, writeRecord,
  type BootCheckPlan, type BootCheckRecord, type BootCheckSnapshot, type CheckOutcome,
} from '../boot-check.js';
import { readBootCheckSettings } from '../boot-check-settings.js';

export const DEFAULT_RECORD_DIR = '/var/lib/berth/boot-check';
const LOADER_ENTRY_SELECTED = '/sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f';
/** Used only until the settings are read (berthd answers within seconds of READY). */
const SETTINGS_WAIT_MS = 5 * 60_000;

/** `--timeout`: the same duration syntax as updates.health-timeout. */
export function durationArg(value: string): number {
  const m = /^(\d{1,9})(ms|s|m|h)$/.exec(value);
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'] : 0;
  if (ms < 10) throw new InvalidArgumentError('expected a duration such as 500ms, 30s, 5m or 1h');
  return ms;
}

function systemdState(unit: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('systemctl', ['show', '--property=ActiveState', '--value', unit], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? `unknown (systemctl: ${err.message.split('\n')[0]})` : stdout.trim());
    });
  });
}

// grpc-js appends an empty "Resolution note:" to connection errors.
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\.?\s*Resolution note:\s*$/, '');

async function snapshot(client: BerthClient, berthdUnit: string): Promise<BootCheckSnapshot> {
  const berthdState = berthdUnit === '' ? undefined : await systemdState(berthdUnit);
  try {
    const version = await client.host.version({ timeoutMs: 10_000 });
    const units = await client.units.list({ timeoutMs: 10_000 });
    return { berthdState, daemon: { ready: version.daemon.ready, message: version.daemon.message }, units };
  } catch (e) {
    return { berthdState, units: { error: message(e) } };
  }
}

async function runningVersion(client: BerthClient): Promise<string> {
  try {
    return (await client.updates.status({ timeoutMs: 10_000 })).runningVersion || 'unknown';
  } catch {
    const text = await readFile('/etc/os-release', 'utf8').catch(() => '');
    return /^VERSION_ID="?([^"\n]+)"?$/m.exec(text)?.[1] ?? 'unknown';
  }
}

async function selectedEntry(): Promise<string | undefined> {
  const bytes = await readFile(LOADER_ENTRY_SELECTED).catch(() => undefined);
  return bytes && bytes.length > 4 ? decodeEfiString(bytes) : undefined;
}

function line(c: CheckOutcome): string {
  return `${c.ok ? 'ok  ' : 'FAIL'} ${c.check}: ${c.detail}\n`;
}

export function registerBootCheck(update: Command): void {
  update
    .command('boot-check')
    .description('boot assessment (berth-boot-check.service): berthd ready, essential bootstrap units done, control and updates.health-checks running and healthy within updates.health-timeout; records the outcome, exit 1 on failure')
    .option('--timeout <duration>', 'instead of updates.health-timeout', durationArg)
    .option('--record-dir <dir>', 'where the outcome is kept, one <version>.json per version', DEFAULT_RECORD_DIR)
    .option('--berthd-unit <unit>', 'the systemd unit that must be active (Type=notify: after READY=1); "" to skip', 'berthd.service')
    .action(async (opts: { timeout?: number; recordDir: string; berthdUnit: string }, cmd: Command) => {
      const { client, options } = await connect(cmd);
      const json = options.output === 'json';
      const startedAt = new Date();
      const t0 = Date.now();
      const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
      // The plan comes from berthd's settings; until they answer, the checks cannot even be named.
      let plan: BootCheckPlan | undefined;
      let timeoutMs = opts.timeout ?? SETTINGS_WAIT_MS;
      let settingsError = '';
      while (!plan && Date.now() - t0 < timeoutMs) {
        try {
          const s = await readBootCheckSettings(client);
          plan = s.plan;
          timeoutMs = opts.timeout ?? s.timeoutMs;
        } catch (e) {
          settingsError = message(e);
          await sleep(1000);
        }
      }
      let last = '';
      const result = plan
        ? await runBootCheck(plan, Math.max(0, timeoutMs - (Date.now() - t0)), {
          now: () => Date.now(),
          sleep,
          snapshot: () => snapshot(client, opts.berthdUnit),
          onPoll: (checks) => {
            // Progress on the journal, only when something changed.
            const text = checks.filter((c) => !c.ok).map((c) => `${c.check} (${c.detail})`).join('; ');
            if (!json && text !== last && text !== '') process.stderr.write(`boot-check: waiting for ${text}\n`);
            last = text;
          },
        })
        : { passed: false, elapsedMs: Date.now() - t0, checks: [{ check: 'berthd', ok: false, final: true, detail: `its settings could not be read: ${settingsError}` }] };
      const record: BootCheckRecord = {
        version: await runningVersion(client),
        ...(await selectedEntry().then((entry) => (entry ? { entry } : {}))),
        passed: result.passed,
        startedAt: startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        timeoutMs,
        failed: failedChecks(result.checks),
        checks: result.checks,
      };
      let file = '';
      try {
        file = await writeRecord(opts.recordDir, record);
      } catch (e) {
        // The verdict stands without its record: a full state partition must not turn a bad boot into a good one.
        process.stderr.write(`boot-check: could not write the record: ${message(e)}\n`);
      }
      if (json) printJson({ ...record, recordFile: file });
      else {
        process.stdout.write(result.checks.map(line).join(''));
        process.stdout.write(`boot check ${record.passed ? 'passed' : `FAILED (${record.failed[0]?.check ?? '?'})`} for ${record.version} after ${(result.elapsedMs / 1000).toFixed(1)}s${file ? `; recorded in ${file}` : ''}\n`);
      }
      if (!record.passed) throw new ReportedFailure();
    });
}
