// Public surface of the API room: the daemon starts the server; implementers of the interfaces throw the
// typed errors; the CLI client decodes with the same conversions.
export { startApiServer, type ApiServer, type ApiServerOptions, type TcpListenerOptions } from './server.js';
export type { HostApi, ImagesApi, SettingsApi, WorkloadsApi } from './services.js';
export { ValidationError, NotFoundError, UnavailableError, grpcCodeOf } from './errors.js';
