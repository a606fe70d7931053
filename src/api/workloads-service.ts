// berth.v1.Workloads: run/list/start/stop/remove workloads and read their logs. The logic lives behind
// WorkloadsApi (the WorkloadManager of src/workloads/manager.ts); this file translates messages (with
// src/wire/) and pages lists.
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { BERTH_BUNDLE, loadBundle } from '../protobuf/bundle.js';
import type { LogLine, StopObserver } from '../supervisor/types.js';
import type { WorkloadInfo } from '../workloads/manager.js';
import { compareWorkloadNames, type WorkloadRequest } from '../workloads/types.js';
import { specFromWire, workloadToWire } from '../wire/workloads.js';
import type { WireListRequest, WireListResponse, WireLogLine, WireWorkload, WireWorkloadSpec } from '../wire/messages.js';
import { ActiveStreams, failStream, unary, untilAborted, writeMessage } from './calls.js';
import { UnavailableError, ValidationError } from './errors.js';
import { stopProgressHandler } from './stop-progress.js';

export interface WorkloadsApi {
  run(request: WorkloadRequest): Promise<WorkloadInfo>;
  list(): WorkloadInfo[];
  get(name: string): WorkloadInfo;
  startWorkload(name: string): Promise<WorkloadInfo>;
  stop(name: string, onProgress?: StopObserver): Promise<WorkloadInfo>;
  /** Every workload stopped (persisted as such) and every container of their engine removed. */
  stopAll(onProgress?: StopObserver): Promise<void>;
  remove(name: string): Promise<void>;
  logs(name: string, opts: { tail?: number; follow?: boolean; signal?: AbortSignal }): AsyncIterable<LogLine>;
}

const present = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

interface NameRequest {
  name: string;
}

/**
 * Paging budget. A response must stay under the 4 MiB a grpc-js client accepts by default, whatever the
 * list's total: a page closes at PAGE_MAX_BYTES (but always holds one workload; a unit's text is at most
 * 2 MiB, src/units/limits.ts, so one workload fits a message on its own). An unpaged response (older
 * clients) may use up to UNPAGED_MAX_BYTES; a bigger list is refused with a message saying to page.
 */
export const PAGE_MAX_BYTES = 1024 * 1024;
export const PAGE_SIZE_MAX = 1000;
export const UNPAGED_MAX_BYTES = 4 * 1024 * 1024 - 64 * 1024;

/** gRPC RESOURCE_EXHAUSTED: the answer exists but does not fit one message. */
export class ListTooLargeError extends Error {
  override readonly name = 'ListTooLargeError';
  readonly code = 8;
}

let workloadType: protobuf.Type | undefined;
/** Encoded size of one Workload message, exactly as grpc-js will send it. */
function wireBytes(w: WireWorkload): number {
  workloadType ??= loadBundle(BERTH_BUNDLE).lookupType('berth.v1.Workload');
  return workloadType.encode(workloadType.fromObject(w as unknown as Record<string, unknown>)).finish().length;
}

// Page tokens are opaque to clients; inside, the last name sent (names sort totally, see the store), so
// a workload added or removed between pages neither shifts nor repeats the others.
const TOKEN_PREFIX = 'w1:';
const encodeToken = (name: string): string => Buffer.from(TOKEN_PREFIX + name, 'utf8').toString('base64url');
function decodeToken(token: string): string {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith(TOKEN_PREFIX) || text.length === TOKEN_PREFIX.length) {
    throw new ValidationError('page_token', 'is not a next_page_token from a previous response');
  }
  return text.slice(TOKEN_PREFIX.length);
}

/** One page of `all` (sorted by name), or everything when unpaged. */
export function listPage(all: readonly WorkloadInfo[], req: WireListRequest): WireListResponse {
  const pageSize = req.page_size ?? 0;
  if (!Number.isInteger(pageSize) || pageSize < 0) throw new ValidationError('page_size', `must be 0 or more, got ${pageSize}`);
  const token = req.page_token ?? '';
  let start = 0;
  if (token !== '') {
    const after = decodeToken(token);
    while (start < all.length && compareWorkloadNames(all[start]!.request.name, after) <= 0) start++;
  }
  const workloads: WireWorkload[] = [];
  let bytes = 0;
  if (pageSize === 0) {
    for (let i = start; i < all.length; i++) {
      const w = workloadToWire(all[i]!);
      bytes += wireBytes(w) + 8; // + field tag and length prefix
      if (bytes > UNPAGED_MAX_BYTES) {
        throw new ListTooLargeError(`the workload list is more than ${UNPAGED_MAX_BYTES} bytes, more than one response carries; ask for pages (ListWorkloadsRequest.page_size; berthctl does)`);
      }
      workloads.push(w);
    }
    return { workloads };
  }
  const limit = Math.min(pageSize, PAGE_SIZE_MAX);
  let i = start;
  for (; i < all.length && workloads.length < limit; i++) {
    const w = workloadToWire(all[i]!);
    const size = wireBytes(w) + 8;
    if (workloads.length > 0 && bytes + size > PAGE_MAX_BYTES) break;
    bytes += size;
    workloads.push(w);
  }
  const last = all[i - 1];
  return i < all.length && last !== undefined ? { workloads, next_page_token: encodeToken(last.request.name) } : { workloads };
}

export function workloadsService(api: WorkloadsApi, streams: ActiveStreams): grpc.UntypedServiceImplementation {
  const logs = (call: grpc.ServerWritableStream<{ name: string; tail?: number | null; follow: boolean }, WireLogLine>): void => {
    const { name, tail, follow } = call.request;
    const controller = streams.track(call);
    const signal = controller.signal;
    void (async () => {
      const opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = { follow, signal };
      if (present(tail)) {
        if (tail < 0) throw new ValidationError('tail', `must not be negative, got ${tail}`);
        opts.tail = tail;
      }
      for await (const line of untilAborted(api.logs(name, opts), signal)) {
        await writeMessage(call, { at: line.at, stream: line.stream, line: line.line }, signal);
      }
      if (signal.aborted && !call.cancelled) throw new UnavailableError('berthd is shutting down');
      if (!call.cancelled) call.end();
    })()
      .catch((err: unknown) => failStream(call, err))
      .finally(() => controller.abort());
  };
  return {
    Run: unary<{ spec: WireWorkloadSpec | null }, WireWorkload>(async ({ spec }) => workloadToWire(await api.run(specFromWire(spec)))),
    List: unary<WireListRequest, WireListResponse>((req) => listPage(api.list(), req)),
    Get: unary<NameRequest, WireWorkload>(({ name }) => workloadToWire(api.get(name))),
    Start: unary<NameRequest, WireWorkload>(async ({ name }) => workloadToWire(await api.startWorkload(name))),
    Stop: unary<NameRequest, WireWorkload>(async ({ name }) => workloadToWire(await api.stop(name))),
    StopWithProgress: stopProgressHandler<NameRequest>(streams, async ({ name }, emit) => {
      await api.stop(name, emit('workload'));
    }) as grpc.handleServerStreamingCall<unknown, unknown>,
    Remove: unary<NameRequest, Record<string, never>>(async ({ name }) => {
      await api.remove(name);
      return {};
    }),
    Logs: logs as grpc.handleServerStreamingCall<unknown, unknown>,
  };
}
