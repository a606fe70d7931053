// berth.v1.Events/Watch: the supervisor's event bus as a server stream, opened with a snapshot ("hello") so
// a client knows the stream is live and can render the current state before applying changes.
import type * as grpc from '@grpc/grpc-js';
import type { SupervisorApi, SupervisorEvent } from '../supervisor/types.js';
import { ActiveStreams, failStream, untilAborted, writeMessage } from './calls.js';
import { daemonToWire, eventToWire, unitToWire } from '../wire/convert.js';
import { UnavailableError } from './errors.js';
import type { WireEvent } from '../wire/messages.js';

/**
 * Starts pulling from `source` at once and buffers what arrives: an async generator subscribes only when
 * first pulled, and everything after the snapshot must reach the client.
 */
function subscribeNow(source: AsyncIterable<SupervisorEvent>): AsyncIterable<SupervisorEvent> {
  const it = source[Symbol.asyncIterator]();
  const first = it.next();
  let pulledFirst = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (!pulledFirst) {
          pulledFirst = true;
          return first;
        }
        return it.next();
      },
      return: async () => (it.return ? it.return() : { done: true, value: undefined }),
    }),
  };
}

export function eventsService(supervisor: SupervisorApi, streams: ActiveStreams): grpc.UntypedServiceImplementation {
  const watch = (call: grpc.ServerWritableStream<unknown, WireEvent>): void => {
    const controller = streams.track(call);
    const signal = controller.signal;
    void (async () => {
      const events = subscribeNow(supervisor.events(signal));
      const hello: WireEvent = {
        at: new Date().toISOString(),
        hello: { units: supervisor.list().map(unitToWire), daemon: daemonToWire(supervisor.status()) },
      };
      await writeMessage(call, hello, signal);
      for await (const event of untilAborted(events, signal)) await writeMessage(call, eventToWire(event), signal);
      // A stream that ends because berthd is stopping must not look like a normal end to the client.
      if (signal.aborted && !call.cancelled) throw new UnavailableError('berthd is shutting down');
      if (!call.cancelled) call.end();
    })()
      .catch((err: unknown) => failStream(call, err))
      .finally(() => controller.abort());
  };
  return { Watch: watch as grpc.handleServerStreamingCall<unknown, unknown> };
}
