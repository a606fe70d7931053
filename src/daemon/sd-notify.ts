import { createRequire } from 'node:module';

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  close(): void;
  on(event: 'error', cb: (err: Error) => void): void;
}

/**
 * sd_notify(3) over the datagram socket systemd names in NOTIFY_SOCKET. Node has no unix datagram
 * sockets, hence the small native `unix-dgram` module; without NOTIFY_SOCKET every call is a no-op.
 */
export class SdNotify {
  private socket: DgramSocket | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  constructor(private readonly path = process.env.NOTIFY_SOCKET) {
    if (!this.path) return;
    if (this.path.startsWith('@')) return; // abstract sockets are not supported by unix-dgram
    const require = createRequire(import.meta.url);
    const unix = require('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
    this.socket = unix.createSocket('unix_dgram');
    this.socket.on('error', () => undefined);
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  notify(...lines: string[]): Promise<void> {
    const socket = this.socket;
    const target = this.path;
    if (!socket || !target) return Promise.resolve();
    const msg = Buffer.from(lines.join('\n'));
    return new Promise((resolve) => socket.send(msg, 0, msg.length, target, () => resolve()));
  }

  ready(status: string): Promise<void> {
    return this.notify('READY=1', `STATUS=${status}`, `MAINPID=${process.pid}`);
  }
  status(status: string): Promise<void> {
    return this.notify(`STATUS=${status}`);
  }
  stopping(): Promise<void> {
    return this.notify('STOPPING=1');
  }

  /** Pings the watchdog at half the interval systemd asked for (WATCHDOG_USEC), when it asked. */
  startWatchdog(healthy: () => boolean): void {
    const usec = Number(process.env.WATCHDOG_USEC ?? 0);
    const pid = Number(process.env.WATCHDOG_PID ?? process.pid);
    if (!usec || pid !== process.pid) return;
    this.watchdog = setInterval(() => {
      if (healthy()) void this.notify('WATCHDOG=1');
    }, Math.max(100, usec / 2000));
    this.watchdog.unref();
  }

  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.socket?.close();
    this.socket = undefined;
  }
}
