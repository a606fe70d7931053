// startApiServer: berth.v1 on the local unix socket (always) and, when configured, on TCP with mutual TLS.
// The server holds no business logic: each service translates messages to calls on the injected interfaces.
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SupervisorApi } from '../supervisor/types.js';
import { ActiveStreams } from './calls.js';
import { eventsService } from './events-service.js';
import { fleetService, type FleetApi } from './fleet-service.js';
import { hostService } from './host-service.js';
import { imagesService } from './images-service.js';
import { LoopDelayWindow } from './process-stats.js';
import { berthService } from '../wire/proto.js';
import type { HostApi, ImagesApi, SettingsApi } from './services.js';
import { settingsService } from './settings-service.js';
import {
  groupId, prepareSocketDir, publishSocket, removeStaleSocket, SOCKET_GROUP, temporarySocketPath, unpublishSocket,
} from './socket.js';
import { unitsService } from './units-service.js';
import { updatesService, type UpdatesApi } from './updates-service.js';
import { workloadsService, type WorkloadsApi } from './workloads-service.js';

export interface TcpListenerOptions {
  /** host:port, e.g. `0.0.0.0:50000`; port 0 picks a free one (see ApiServer.tcpPort). */
  address: string;
  /** PEM (file paths, or the PEM text itself): the CA that signs client certificates, our certificate and key. */
  caCert: string | Buffer;
  serverCert: string | Buffer;
  serverKey: string | Buffer;
}

export interface ApiServerOptions {
  /** Usually `<run dir>/api.sock`. */
  socketPath: string;
  supervisor: SupervisorApi;
  settings: SettingsApi;
  images: ImagesApi;
  host: HostApi;
  /** The workload API; absent: Workloads calls answer UNIMPLEMENTED. */
  workloads?: WorkloadsApi;
  /** The fleet API; absent: Fleet calls answer UNIMPLEMENTED. */
  fleet?: FleetApi;
  /** Host updates; absent: Updates calls answer UNIMPLEMENTED. */
  updates?: UpdatesApi;
  /** Off unless given. Clients must present a certificate signed by `caCert`. */
  tcp?: TcpListenerOptions;
  /** Group allowed to use the socket; default `berth`, ignored when absent from /etc/group. */
  socketGroup?: string;
  /** For tests: an /etc/group-format file. */
  groupFile?: string;
}

export interface ApiServer {
  readonly socketPath: string;
  /** Bound TCP port when the TLS listener is on. */
  readonly tcpPort?: number;
  /** The group that may use the socket (mode 0660); gid undefined when no such group exists (root only). */
  readonly socketGroup: { name: string; gid: number | undefined };
  /** Ends open streams, stops listening and removes the socket. */
  close(graceMs?: number): Promise<void>;
}

const SERVER_OPTIONS: grpc.ServerOptions = {
  // channelz records per-call statistics nobody reads here; unit-status polling should not pay for it.
  'grpc.enable_channelz': 0,
  // Settings documents are at most 1 MiB; exec chunks are small. grpc-js's 4 MiB default leaves room.
  'grpc.max_receive_message_length': 4 << 20,
};

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/** PEM given inline (a Buffer, or text with a BEGIN line) or as a file path. */
function pem(source: string | Buffer): Promise<Buffer> {
  if (Buffer.isBuffer(source)) return Promise.resolve(source);
  return source.includes('-----BEGIN ') ? Promise.resolve(Buffer.from(source)) : readFile(source);
}

async function tlsCredentials(tcp: TcpListenerOptions): Promise<grpc.ServerCredentials> {
  const [ca, cert, key] = await Promise.all([pem(tcp.caCert), pem(tcp.serverCert), pem(tcp.serverKey)]);
  // `true`: a client certificate is required and must chain to `ca` — TCP clients have no file permissions
  // to check, so the certificate is their only credential.
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true);
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const socketPath = path.resolve(options.socketPath);
  const streams = new ActiveStreams();
  const server = new grpc.Server(SERVER_OPTIONS);
  server.addService(berthService('Settings'), settingsService(options.settings));
  server.addService(berthService('Units'), unitsService(options.supervisor, streams, options.workloads));
  server.addService(berthService('Events'), eventsService(options.supervisor, streams));
  server.addService(berthService('Images'), imagesService(options.images));
  const loopDelay = new LoopDelayWindow();
  server.addService(berthService('Host'), hostService(options.host, options.supervisor, loopDelay));
  if (options.workloads) server.addService(berthService('Workloads'), workloadsService(options.workloads, streams));
  if (options.fleet) server.addService(berthService('Fleet'), fleetService(options.fleet));
  if (options.updates) server.addService(berthService('Updates'), updatesService(options.updates));

  const shutdown = (): void => {
    loopDelay.stop();
    server.forceShutdown();
  };
  let ino: number;
  let tcpPort: number | undefined;
  const groupName = options.socketGroup ?? SOCKET_GROUP;
  let gid: number | undefined;
  try {
    await prepareSocketDir(path.dirname(socketPath));
    await removeStaleSocket(socketPath);
    gid = await groupId(groupName, options.groupFile);
    const temp = temporarySocketPath(socketPath);
    await bind(server, `unix://${temp}`, grpc.ServerCredentials.createInsecure());
    ino = await publishSocket(temp, socketPath, gid);
    if (options.tcp) tcpPort = await bind(server, options.tcp.address, await tlsCredentials(options.tcp));
  } catch (err) {
    shutdown();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (graceMs = 1000): Promise<void> => {
    closing ??= (async () => {
      loopDelay.stop();
      streams.abortAll();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await unpublishSocket(socketPath, ino);
    })();
    return closing;
  };

  return { socketPath, ...(tcpPort !== undefined ? { tcpPort } : {}), socketGroup: { name: groupName, gid }, close };
}
