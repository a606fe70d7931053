// A host's updater for tests: a repository built by berth-repo, served on 127.0.0.1, an Updater over it with
// settings held in a plain object, and a fake installer that records what it was asked to install.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { UpdatesSettings } from '../../src/settings/families/updates.js';
import type { InstallPlan, InstallProgress, SlotInfo, UpdateInstaller } from '../../src/updates/installer.js';
import { Updater } from '../../src/updates/updater.js';
import type { StaticServer } from './update-repo.js';

export interface InstallCall {
  readonly plan: InstallPlan;
  /** sha256 of each file as the installer read it. */
  readonly sha256: { rootImage: string; kernel: string; initramfs: string };
  readonly signal: AbortSignal;
}

/** Records install calls; `hold` makes the next install wait until released (or aborted). */
export class FakeInstaller implements UpdateInstaller {
  readonly installs: InstallCall[] = [];
  deactivations = 0;
  private gate: { promise: Promise<void>; release: () => void } | undefined;
  /** Resolves when an install has started (for `hold`). */
  started: Promise<void> = Promise.resolve();
  private markStarted: () => void = () => undefined;

  hold(): void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.gate = { promise, release };
    this.started = new Promise<void>((r) => (this.markStarted = r));
  }

  release(): void {
    this.gate?.release();
  }

  async install(plan: InstallPlan, progress: (p: InstallProgress) => void, signal: AbortSignal): Promise<void> {
    const sha = async (f: string): Promise<string> => createHash('sha256').update(await readFile(f)).digest('hex');
    this.installs.push({
      plan, signal,
      sha256: { rootImage: await sha(plan.files.rootImage), kernel: await sha(plan.files.kernel), initramfs: await sha(plan.files.initramfs) },
    });
    progress({ phase: 'write', done: 0, total: 1 });
    this.markStarted();
    if (this.gate) {
      const gate = this.gate;
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener('abort', () => reject(new Error('install aborted')), { once: true });
        void gate.promise.then(resolve);
      });
    }
    progress({ phase: 'write', done: 1, total: 1 });
  }

  deactivate(): Promise<void> {
    this.deactivations++;
    return Promise.resolve();
  }

  slots(): Promise<SlotInfo> {
    return Promise.resolve({ running: 'A', inactive: 'B', versions: {}, nextBoot: 'A' });
  }
}

export interface TestHost {
  readonly updater: Updater;
  readonly installer: FakeInstaller;
  readonly settings: UpdatesSettings;
}

export async function testHost(o: { dir: string; repo: string; server?: StaticServer; version: string; settings?: Partial<UpdatesSettings> }): Promise<TestHost> {
  const base = o.server ? o.server.url : `file://${o.repo}`;
  const settings: UpdatesSettings = {
    metadataBaseUrl: `${base}/metadata`, targetsBaseUrl: `${base}/targets`, versionLock: 'latest', ignoreWaves: false, seed: 1000, rebootCommand: 'systemctl reboot', rebootStrategy: 'immediate', healthChecks: [], healthTimeout: 300_000,
    ...o.settings,
  };
  const installer = new FakeInstaller();
  const updater = await Updater.open({
    host: { variant: 'metal', arch: 'x86_64', version: o.version },
    settings: () => settings,
    installer,
    dir: path.join(o.dir, 'state', 'updates'),
    trustedRootFile: path.join(o.repo, 'metadata', '1.root.json'),
  });
  return { updater, installer, settings };
}
