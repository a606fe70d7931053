// berth.v1.Units: unit status and lifecycle, logs. Exec lives in exec-service.ts.
import type * as grpc from '@grpc/grpc-js';
import type { StopObserver, SupervisorApi, UnitStatus } from '../supervisor/types.js';
import { requireUnit } from './unit-lookup.js';
import { ActiveStreams, failStream, unary, untilAborted, writeMessage } from './calls.js';
import { unitToWire } from '../wire/convert.js';
import { UnavailableError, ValidationError } from './errors.js';
import { execHandler } from './exec-service.js';
import { stopProgressHandler } from './stop-progress.js';
import type { WireLogLine, WireUnit } from '../wire/messages.js';

interface NameRequest {
  name: string;
}

interface LogsRequest {
  name: string;
  tail?: number;
  follow: boolean;
}

/** What stop-all needs of the workloads, besides the host units' supervisor. */
export interface StopAllWorkloads {
  stopAll(onProgress?: StopObserver): Promise<void>;
}

/** `workloads`: stopped by StopAll too (absent: a daemon without workloads). */
export function unitsService(supervisor: SupervisorApi, streams: ActiveStreams, workloads?: StopAllWorkloads): grpc.UntypedServiceImplementation {
  const action = (fn: (name: string) => Promise<UnitStatus>) =>
    unary<NameRequest, WireUnit>(async ({ name }) => {
      requireUnit(supervisor, name);
      return unitToWire(await fn(name));
    });

  const logs = (call: grpc.ServerWritableStream<LogsRequest, WireLogLine>): void => {
    const { name, tail, follow } = call.request;
    const controller = streams.track(call);
    const signal = controller.signal;
    void (async () => {
      requireUnit(supervisor, name);
      const opts: { tail?: number; follow?: boolean; signal?: AbortSignal } = { follow, signal };
      if (tail !== undefined && tail !== null) {
        if (tail < 0) throw new ValidationError('tail', `must not be negative, got ${tail}`);
        opts.tail = tail;
      }
      for await (const line of untilAborted(supervisor.logs(name, opts), signal)) {
        await writeMessage(call, { at: line.at, stream: line.stream, line: line.line }, signal);
      }
      // A follow that ends because berthd is stopping must not look like the end of the log to the client.
      if (signal.aborted && !call.cancelled) throw new UnavailableError('berthd is shutting down');
      if (!call.cancelled) call.end();
    })()
      .catch((err: unknown) => failStream(call, signal.aborted && !call.cancelled ? new UnavailableError('berthd is shutting down') : err))
      .finally(() => controller.abort());
  };

  return {
    List: unary<Record<string, never>, { units: WireUnit[] }>(() => ({ units: supervisor.list().map(unitToWire) })),
    Get: unary<NameRequest, WireUnit>(({ name }) => unitToWire(requireUnit(supervisor, name))),
    Start: action((name) => supervisor.start(name)),
    Stop: action((name) => supervisor.stop(name)),
    Restart: action((name) => supervisor.restart(name)),
    Logs: logs as grpc.handleServerStreamingCall<unknown, unknown>,
    Exec: execHandler(supervisor, streams) as grpc.handleBidiStreamingCall<unknown, unknown>,
    // Host units and workloads at once: the slowest stop timeout bounds the wait, not their sum.
    StopAll: unary<Record<string, never>, Record<string, never>>(async () => {
      await Promise.all([supervisor.stopAll(), workloads?.stopAll()]);
      return {};
    }),
    StopAllWithProgress: stopProgressHandler<Record<string, never>>(streams, async (_req, emit) => {
      await Promise.all([supervisor.stopAll(emit('unit')), workloads?.stopAll(emit('workload'))]);
    }) as grpc.handleServerStreamingCall<unknown, unknown>,
    StopWithProgress: stopProgressHandler<NameRequest>(streams, async ({ name }, emit) => {
      requireUnit(supervisor, name);
      await supervisor.stop(name, emit('unit'));
    }) as grpc.handleServerStreamingCall<unknown, unknown>,
  };
}
