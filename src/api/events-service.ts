// berth.v1.Events/Watch: the supervisor's event bus as a server stream, opened with a snapshot ("hello") so
// a client knows the stream is live and can render the current state before applying changes.
import type * as grpc from '@grpc/grpc-js';
import type { SupervisorApi, SupervisorEvent } from '../supervisor/types.js';
import { ActiveStreams, failStream, writeMessage } from './calls.js';
import { daemonToWire, eventToWire, unitToWire } from './convert.js';
import type { WireEvent } from './wire.js';

export function eventsService(supervisor: SupervisorApi, streams: ActiveStreams): grpc.UntypedServiceImplementation {
  const watch = (call: grpc.ServerWritableStream<unknown, WireEvent>): void => {
    const controller = streams.track(call);
    const signal = controller.signal;
    void (async () => {
      const events = supervisor.events(signal)[Symbol.asyncIterator]();
      // Ask for the first event before taking the snapshot: an async generator subscribes only when first
      // pulled, and anything that happens after the snapshot must reach this client.
      let next: Promise<IteratorResult<SupervisorEvent>> = events.next();
      const hello: WireEvent = {
        at: new Date().toISOString(),
        hello: { units: supervisor.list().map(unitToWire), daemon: daemonToWire(supervisor.status()) },
      };
      await writeMessage(call, hello, signal);
      // An event source that ignores the signal must still not keep a cancelled call alive.
      const aborted = new Promise<IteratorResult<SupervisorEvent>>((resolve) => {
        if (signal.aborted) resolve({ done: true, value: undefined });
        signal.addEventListener('abort', () => resolve({ done: true, value: undefined }), { once: true });
      });
      for (;;) {
        const result = await Promise.race([next, aborted]);
        if (result.done || signal.aborted) break;
        await writeMessage(call, eventToWire(result.value), signal);
        next = events.next();
      }
      void events.return?.()?.catch(() => undefined);
      if (!call.cancelled) call.end();
    })()
      .catch((err: unknown) => failStream(call, err))
      .finally(() => controller.abort());
  };
  return { Watch: watch as grpc.handleServerStreamingCall<unknown, unknown> };
}
