import * as grpc from '@grpc/grpc-js';
import { serviceConstructor } from './proto.js';
import { mapGrpcError } from './errors.js';
import { onAbort } from '../util/abort.js';
import type { AnyMessage } from './codec.js';
import type {
  Container, ContentInfo, Descriptor, Envelope, Image, Lease, Mount, Process, SnapshotInfo, Timestamp,
} from './types.js';

/** containerd's Go client and server both use 16 MiB messages; grpc-js defaults to 4 MiB. */
const MAX_MESSAGE = 16 << 20;

const SERVICES = {
  version: 'containerd.services.version.v1.Version',
  namespaces: 'containerd.services.namespaces.v1.Namespaces',
  containers: 'containerd.services.containers.v1.Containers',
  tasks: 'containerd.services.tasks.v1.Tasks',
  images: 'containerd.services.images.v1.Images',
  content: 'containerd.services.content.v1.Content',
  snapshots: 'containerd.services.snapshots.v1.Snapshots',
  diff: 'containerd.services.diff.v1.Diff',
  leases: 'containerd.services.leases.v1.Leases',
  events: 'containerd.services.events.v1.Events',
  introspection: 'containerd.services.introspection.v1.Introspection',
} as const;
type ServiceKey = keyof typeof SERVICES;

export interface CallOptions {
  /** Overrides the client's namespace for this call. */
  namespace?: string;
  /** Adds the `containerd-lease` header so created resources join that lease. */
  lease?: string;
  /** Milliseconds; omitted for long calls such as Tasks.Wait. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

type Req = Record<string, unknown>;
type UnaryFn = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void) => grpc.ClientUnaryCall;
type StreamFn = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;
/** Requests on a bidi stream: a message, or a Buffer holding one already encoded. */
type BidiReq = Req | Buffer;
type BidiFn = (md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientDuplexStream<BidiReq, unknown>;

/** The shared connection: one channel, one stub per service. Namespace views share it. */
class Connection {
  readonly stubs = new Map<ServiceKey, grpc.Client>();
  readonly channel: grpc.Channel;
  constructor(readonly socketPath: string) {
    const options: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
      // A supervisor must notice a restarted containerd quickly; grpc-js would back off to 120 s.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    };
    this.channel = new grpc.Channel(`unix://${socketPath}`, grpc.credentials.createInsecure(), options);
    for (const [key, name] of Object.entries(SERVICES) as [ServiceKey, string][]) {
      const Ctor = serviceConstructor(name);
      this.stubs.set(key, new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), { ...options, channelOverride: this.channel }));
    }
  }
  close(): void {
    for (const stub of this.stubs.values()) stub.close();
    this.channel.close();
  }
}

/**
 * Typed containerd client. Every call carries the namespace header (containerd requires it for nearly all
 * RPCs, §1.1 of the API facts); errors come back as typed ContainerdErrors naming the RPC.
 */
export class ContainerdClient {
  private constructor(private readonly conn: Connection, readonly namespace: string) {}

  static connect(socketPath: string, namespace = 'default'): ContainerdClient {
    return new ContainerdClient(new Connection(socketPath), namespace);
  }

  get socketPath(): string {
    return this.conn.socketPath;
  }

  /** A view of the same connection that defaults to another namespace. */
  withNamespace(namespace: string): ContainerdClient {
    return new ContainerdClient(this.conn, namespace);
  }

  close(): void {
    this.conn.close();
  }

  /** Resolves once the channel is connected, or rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void> {
    const stub = this.conn.stubs.get('version')!;
    return new Promise((resolve, reject) => {
      stub.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()));
    });
  }

  private metadata(opts: CallOptions | undefined): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('containerd-namespace', opts?.namespace ?? this.namespace);
    if (opts?.lease) md.set('containerd-lease', opts.lease);
    return md;
  }

  private callOptions(opts: CallOptions | undefined): grpc.CallOptions {
    return opts?.timeoutMs ? { deadline: Date.now() + opts.timeoutMs } : {};
  }

  unary<T>(service: ServiceKey, method: string, request: Req, opts?: CallOptions): Promise<T> {
    const stub = this.conn.stubs.get(service)! as unknown as Record<string, UnaryFn>;
    const rpc = `${service}.${method}`;
    return new Promise<T>((resolve, reject) => {
      // The caller's signal often outlives the call (a unit's lifetime): stop listening once it is answered.
      let stopListening = (): void => undefined;
      const call = stub[method]!.call(stub, request, this.metadata(opts), this.callOptions(opts), (err, res) => {
        stopListening();
        if (err) reject(mapGrpcError(err, rpc));
        else resolve(res as T);
      });
      stopListening = onAbort(opts?.signal, () => call.cancel());
    });
  }

  async *serverStream<T>(service: ServiceKey, method: string, request: Req, opts?: CallOptions): AsyncGenerator<T> {
    const stub = this.conn.stubs.get(service)! as unknown as Record<string, StreamFn>;
    const call = stub[method]!.call(stub, request, this.metadata(opts), this.callOptions(opts));
    const onAbort = (): void => call.cancel();
    opts?.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const msg of call) yield msg as T;
    } catch (err) {
      throw mapGrpcError(err, `${service}.${method}`);
    } finally {
      opts?.signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  bidi(service: ServiceKey, method: string, opts?: CallOptions): grpc.ClientDuplexStream<BidiReq, unknown> {
    const stub = this.conn.stubs.get(service)! as unknown as Record<string, BidiFn>;
    return stub[method]!.call(stub, this.metadata(opts), this.callOptions(opts));
  }

  // ---- Version / namespaces -------------------------------------------------------------------------
  version(opts?: CallOptions): Promise<{ version: string; revision: string }> {
    return this.unary('version', 'Version', {}, opts);
  }
  async listNamespaces(): Promise<{ name: string; labels: Record<string, string> }[]> {
    const res = await this.unary<{ namespaces: { name: string; labels: Record<string, string> }[] }>('namespaces', 'List', {});
    return res.namespaces;
  }
  async createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    // The header must name a namespace or containerd fails publishing the event (API facts §1.1).
    await this.unary('namespaces', 'Create', { namespace: { name, labels } }, { namespace: name });
  }
  async deleteNamespace(name: string): Promise<void> {
    await this.unary('namespaces', 'Delete', { name }, { namespace: name });
  }

  // ---- Containers -----------------------------------------------------------------------------------
  async getContainer(id: string, opts?: CallOptions): Promise<Container> {
    return (await this.unary<{ container: Container }>('containers', 'Get', { id }, opts)).container;
  }
  async listContainers(filters: string[] = [], opts?: CallOptions): Promise<Container[]> {
    return (await this.unary<{ containers: Container[] }>('containers', 'List', { filters }, opts)).containers;
  }
  async createContainer(container: Partial<Container> & { id: string }, opts?: CallOptions): Promise<Container> {
    return (await this.unary<{ container: Container }>('containers', 'Create', { container }, opts)).container;
  }
  async updateContainer(container: Partial<Container> & { id: string }, paths: string[], opts?: CallOptions): Promise<Container> {
    return (await this.unary<{ container: Container }>('containers', 'Update', { container, update_mask: { paths } }, opts)).container;
  }
  async deleteContainer(id: string, opts?: CallOptions): Promise<void> {
    await this.unary('containers', 'Delete', { id }, opts);
  }

  // ---- Tasks ----------------------------------------------------------------------------------------
  async createTask(req: { container_id: string; rootfs: Mount[]; stdin?: string; stdout?: string; stderr?: string; terminal?: boolean; options?: AnyMessage }, opts?: CallOptions): Promise<number> {
    return (await this.unary<{ pid: number }>('tasks', 'Create', req, opts)).pid;
  }
  async startTask(containerId: string, execId = '', opts?: CallOptions): Promise<number> {
    return (await this.unary<{ pid: number }>('tasks', 'Start', { container_id: containerId, exec_id: execId }, opts)).pid;
  }
  async getTask(containerId: string, execId = '', opts?: CallOptions): Promise<Process> {
    return (await this.unary<{ process: Process }>('tasks', 'Get', { container_id: containerId, exec_id: execId }, opts)).process;
  }
  async listTasks(opts?: CallOptions): Promise<Process[]> {
    return (await this.unary<{ tasks: Process[] }>('tasks', 'List', {}, opts)).tasks;
  }
  async killTask(containerId: string, signal: number, opts?: CallOptions & { execId?: string; all?: boolean }): Promise<void> {
    await this.unary('tasks', 'Kill', { container_id: containerId, exec_id: opts?.execId ?? '', signal, all: opts?.all ?? false }, opts);
  }
  /** Blocks until the process exits; no deadline by default (API facts §8.3). */
  async waitTask(containerId: string, execId = '', opts?: CallOptions): Promise<{ exit_status: number; exited_at: Timestamp | null }> {
    return this.unary('tasks', 'Wait', { container_id: containerId, exec_id: execId }, opts);
  }
  async deleteTask(containerId: string, opts?: CallOptions): Promise<{ exit_status: number; pid: number }> {
    return this.unary('tasks', 'Delete', { container_id: containerId }, opts);
  }
  async execProcess(req: { container_id: string; exec_id: string; stdin?: string; stdout?: string; stderr?: string; terminal?: boolean; spec: AnyMessage }, opts?: CallOptions): Promise<void> {
    await this.unary('tasks', 'Exec', req, opts);
  }
  async deleteProcess(containerId: string, execId: string, opts?: CallOptions): Promise<{ exit_status: number }> {
    return this.unary('tasks', 'DeleteProcess', { container_id: containerId, exec_id: execId }, opts);
  }
  async closeIO(containerId: string, execId = '', opts?: CallOptions): Promise<void> {
    await this.unary('tasks', 'CloseIO', { container_id: containerId, exec_id: execId, stdin: true }, opts);
  }
  async resizePty(containerId: string, execId: string, width: number, height: number, opts?: CallOptions): Promise<void> {
    await this.unary('tasks', 'ResizePty', { container_id: containerId, exec_id: execId, width, height }, opts);
  }
  async listPids(containerId: string, opts?: CallOptions): Promise<number[]> {
    const res = await this.unary<{ processes: { pid: number }[] }>('tasks', 'ListPids', { container_id: containerId }, opts);
    return res.processes.map((p) => p.pid);
  }

  // ---- Images ---------------------------------------------------------------------------------------
  async getImage(name: string, opts?: CallOptions): Promise<Image> {
    return (await this.unary<{ image: Image }>('images', 'Get', { name }, opts)).image;
  }
  async listImages(filters: string[] = [], opts?: CallOptions): Promise<Image[]> {
    return (await this.unary<{ images: Image[] }>('images', 'List', { filters }, opts)).images;
  }
  async createImage(image: Omit<Image, 'created_at' | 'updated_at'>, opts?: CallOptions): Promise<Image> {
    return (await this.unary<{ image: Image }>('images', 'Create', { image }, opts)).image;
  }
  async updateImage(image: Omit<Image, 'created_at' | 'updated_at'>, paths: string[], opts?: CallOptions): Promise<Image> {
    return (await this.unary<{ image: Image }>('images', 'Update', { image, update_mask: { paths } }, opts)).image;
  }
  async deleteImage(name: string, sync = false, opts?: CallOptions): Promise<void> {
    await this.unary('images', 'Delete', { name, sync }, opts);
  }

  // ---- Content --------------------------------------------------------------------------------------
  async contentInfo(digest: string, opts?: CallOptions): Promise<ContentInfo> {
    return (await this.unary<{ info: ContentInfo }>('content', 'Info', { digest }, opts)).info;
  }
  async updateContent(info: { digest: string; labels: Record<string, string> }, paths: string[], opts?: CallOptions): Promise<ContentInfo> {
    return (await this.unary<{ info: ContentInfo }>('content', 'Update', { info, update_mask: { paths } }, opts)).info;
  }
  async listContent(filters: string[] = [], opts?: CallOptions): Promise<ContentInfo[]> {
    const out: ContentInfo[] = [];
    for await (const batch of this.serverStream<{ info: ContentInfo[] }>('content', 'List', { filters }, opts)) out.push(...batch.info);
    return out;
  }
  async deleteContent(digest: string, opts?: CallOptions): Promise<void> {
    await this.unary('content', 'Delete', { digest }, opts);
  }
  /** Reads a whole blob (callers use it for manifests and configs, which are small). */
  async readContent(digest: string, opts?: CallOptions): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const part of this.serverStream<{ data: Buffer }>('content', 'Read', { digest, offset: 0, size: 0 }, opts)) chunks.push(Buffer.from(part.data));
    return Buffer.concat(chunks);
  }
  async abortIngest(ref: string, opts?: CallOptions): Promise<void> {
    await this.unary('content', 'Abort', { ref }, opts);
  }
  async listIngests(filters: string[] = [], opts?: CallOptions): Promise<{ ref: string; offset: number; total: number }[]> {
    return (await this.unary<{ statuses: { ref: string; offset: number; total: number }[] }>('content', 'ListStatuses', { filters }, opts)).statuses;
  }

  // ---- Snapshots ------------------------------------------------------------------------------------
  async prepareSnapshot(snapshotter: string, key: string, parent: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<Mount[]> {
    return (await this.unary<{ mounts: Mount[] }>('snapshots', 'Prepare', { snapshotter, key, parent, labels }, opts)).mounts;
  }
  async snapshotMounts(snapshotter: string, key: string, opts?: CallOptions): Promise<Mount[]> {
    return (await this.unary<{ mounts: Mount[] }>('snapshots', 'Mounts', { snapshotter, key }, opts)).mounts;
  }
  async commitSnapshot(snapshotter: string, name: string, key: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<void> {
    await this.unary('snapshots', 'Commit', { snapshotter, name, key, labels }, opts);
  }
  async removeSnapshot(snapshotter: string, key: string, opts?: CallOptions): Promise<void> {
    await this.unary('snapshots', 'Remove', { snapshotter, key }, opts);
  }
  async statSnapshot(snapshotter: string, key: string, opts?: CallOptions): Promise<SnapshotInfo> {
    return (await this.unary<{ info: SnapshotInfo }>('snapshots', 'Stat', { snapshotter, key }, opts)).info;
  }
  async listSnapshots(snapshotter: string, filters: string[] = [], opts?: CallOptions): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for await (const batch of this.serverStream<{ info: SnapshotInfo[] }>('snapshots', 'List', { snapshotter, filters }, opts)) out.push(...batch.info);
    return out;
  }

  // ---- Diff -----------------------------------------------------------------------------------------
  async applyDiff(diff: Descriptor, mounts: Mount[], opts?: CallOptions): Promise<Descriptor> {
    return (await this.unary<{ applied: Descriptor }>('diff', 'Apply', { diff, mounts }, opts)).applied;
  }

  // ---- Leases ---------------------------------------------------------------------------------------
  async createLease(id: string, labels: Record<string, string>, opts?: CallOptions): Promise<Lease> {
    return (await this.unary<{ lease: Lease }>('leases', 'Create', { id, labels }, opts)).lease;
  }
  async deleteLease(id: string, sync = false, opts?: CallOptions): Promise<void> {
    await this.unary('leases', 'Delete', { id, sync }, opts);
  }
  async listLeases(filters: string[] = [], opts?: CallOptions): Promise<Lease[]> {
    return (await this.unary<{ leases: Lease[] }>('leases', 'List', { filters }, opts)).leases;
  }

  // ---- Events ---------------------------------------------------------------------------------------
  /** One Subscribe stream; ends with an error when containerd goes away (see events.ts for the resilient one). */
  subscribeOnce(filters: string[], signal?: AbortSignal): AsyncGenerator<Envelope> {
    return this.serverStream<Envelope>('events', 'Subscribe', { filters }, { signal });
  }
}
