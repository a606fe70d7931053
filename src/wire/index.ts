// The wire contract of berth.v1, in one room: the service definitions (proto.ts, imported directly: it
// loads grpc-js and protobufjs), the services' names (services.ts), the messages' shapes (messages.ts),
// their TypeScript values (types.ts) and the conversions between them (convert.ts, workloads.ts).
// src/api/ (server) and src/cli/ (client) both build on it; it imports only src/protobuf/ and the units'
// vocabulary (src/units/types.ts), so the CLI reaches nothing of the daemon through it.
export * from './services.js';
export type * from './messages.js';
export * from './types.js';
export * from './convert.js';
export * from './workloads.js';
export * from './updates.js';
export { MessageValidationError } from './errors.js';
export * from './fleet.js';
