import type { Logger } from 'pino';
import type { EventBus } from './events.js';
import type { SupervisorEvent } from './types.js';

/** The daemon-wide status line (sd_notify STATUS=, `berthctl events`) and whether the runtime answers. */
export class DaemonStatus {
  ready = false;
  runtimeUp = true;
  message = 'starting';

  constructor(private readonly bus: EventBus, private readonly logger: Logger) {}

  announce(message: string): void {
    this.message = message;
    this.logger.info({ status: message }, 'status');
    this.bus.emit({ kind: 'daemon', message, at: new Date().toISOString() } satisfies SupervisorEvent);
  }

  /** Said once per outage, however many calls notice it. */
  runtimeDown(reason: string): void {
    if (!this.runtimeUp) return;
    this.runtimeUp = false;
    this.announce(`containerd unavailable: ${reason}`);
  }

  snapshot(): { ready: boolean; containerd: 'connected' | 'unavailable'; message: string } {
    return { ready: this.ready, containerd: this.runtimeUp ? 'connected' : 'unavailable', message: this.message };
  }
}
