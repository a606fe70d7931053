// Public surface of the API room: the daemon starts the server; implementers of the interfaces throw the
// typed errors. The messages and their conversions are src/wire/'s, shared with the CLI client.
export { startApiServer, type ApiServer, type ApiServerOptions, type TcpListenerOptions } from './server.js';
export type { HostApi, ImagesApi, SettingsApi, WorkloadsApi } from './services.js';
export { ValidationError, NotFoundError, UnavailableError, grpcCodeOf } from './errors.js';
