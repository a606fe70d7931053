// berth.v1.Host: host facts and versions.
import type * as grpc from '@grpc/grpc-js';
import type { SupervisorApi } from '../supervisor/types.js';
import { unary } from './calls.js';
import { daemonToWire, processStatsToWire } from '../wire/convert.js';
import { gatherHostFacts } from './host-facts.js';
import type { HostApi } from './services.js';
import type { WireHostFacts, WireProcessStats, WireVersion } from '../wire/messages.js';
import { processStats, type LoopDelayWindow } from './process-stats.js';

export function hostService(host: HostApi, supervisor: SupervisorApi, loopDelay: LoopDelayWindow): grpc.UntypedServiceImplementation {
  return {
    Facts: unary<unknown, WireHostFacts>(() => gatherHostFacts(host)),
    Version: unary<unknown, WireVersion>(async () => {
      // `berthctl version` must work while containerd is down: that is when people run it.
      const containerd = await host.containerdVersion().catch(() => '');
      return { berth_version: host.berthVersion, containerd_version: containerd, daemon: daemonToWire(supervisor.status()) };
    }),
    ProcessStats: unary<unknown, WireProcessStats>(async () => processStatsToWire(await processStats(loopDelay))),
  };
}
