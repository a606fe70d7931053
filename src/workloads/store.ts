// The desired workloads, persisted as one JSON file under the state dir and replaced atomically on every
// change, so a berthd restart (or a crash mid-write) finds either the old set or the new one.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { readJsonFile, removeStaleTempFiles, writeFileAtomic } from '../util/atomic-file.js';
import { compareWorkloadNames, type WorkloadRecord } from './types.js';

const VERSION = 1;

interface FileShape {
  version: number;
  workloads: WorkloadRecord[];
}

function isRecord(v: unknown): v is WorkloadRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<WorkloadRecord>;
  return typeof r.request?.name === 'string' && Array.isArray(r.mcs) && r.mcs.length === 2 && (r.desired === 'running' || r.desired === 'stopped');
}

export class WorkloadStore {
  private readonly records = new Map<string, WorkloadRecord>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly file: string) {}

  static async open(stateDir: string): Promise<WorkloadStore> {
    const store = new WorkloadStore(path.join(stateDir, 'workloads.json'));
    await mkdir(stateDir, { recursive: true });
    await removeStaleTempFiles(store.file);
    const doc = (await readJsonFile(store.file)) as Partial<FileShape> | undefined;
    if (doc !== undefined) {
      if (doc.version !== VERSION || !Array.isArray(doc.workloads)) throw new Error(`${store.file}: unsupported format (version ${String(doc.version)})`);
      for (const r of doc.workloads) {
        if (!isRecord(r)) throw new Error(`${store.file}: malformed workload entry`);
        store.records.set(r.request.name, r);
      }
    }
    return store;
  }

  get(name: string): WorkloadRecord | undefined {
    return this.records.get(name);
  }

  all(): WorkloadRecord[] {
    return [...this.records.values()].sort((a, b) => compareWorkloadNames(a.request.name, b.request.name));
  }

  usedMcs(): [number, number][] {
    return this.all().map((r) => r.mcs);
  }

  /** Apply a change and persist it; on a failed write the change is undone and the error thrown. */
  async update(change: (records: Map<string, WorkloadRecord>) => void): Promise<void> {
    const run = async (): Promise<void> => {
      const before = new Map(this.records);
      try {
        change(this.records);
        const doc: FileShape = { version: VERSION, workloads: this.all() };
        await writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
      } catch (e) {
        this.records.clear();
        for (const [k, v] of before) this.records.set(k, v);
        throw e;
      }
    };
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => undefined);
    return next;
  }
}
