// berth.v1.Updates: the updater's operations, translated. The updater itself lives in src/updates/
// (wired by the daemon); its refusals carry their gRPC code (ABORTED while another operation runs,
// FAILED_PRECONDITION for a wrong state, an unset setting or a refused repository).
import type * as grpc from '@grpc/grpc-js';
import { unary } from './calls.js';
import { updateStatusToWire, type UpdateStatusInfo, type WireUpdateStatus } from '../wire/updates.js';

export interface UpdatesApi {
  check(): Promise<UpdateStatusInfo>;
  /** Starts an apply; answers with the operation running. */
  apply(): Promise<UpdateStatusInfo>;
  cancel(): Promise<UpdateStatusInfo>;
  status(): UpdateStatusInfo | Promise<UpdateStatusInfo>;
  /** Start a prepare / an activate; answer with the operation running. */
  prepare(): Promise<UpdateStatusInfo>;
  activate(): Promise<UpdateStatusInfo>;
  deactivate(): Promise<UpdateStatusInfo>;
  /** The previous good version boots next (refused while an update is ready or an operation runs). */
  rollback(): Promise<UpdateStatusInfo>;
  /** Runs updates.reboot-command. */
  reboot(): Promise<void>;
}

export function updatesService(updates: UpdatesApi): grpc.UntypedServiceImplementation {
  return {
    Check: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.check())),
    Apply: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.apply())),
    Cancel: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.cancel())),
    Status: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.status())),
    Prepare: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.prepare())),
    Activate: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.activate())),
    Deactivate: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.deactivate())),
    Rollback: unary<unknown, WireUpdateStatus>(async () => updateStatusToWire(await updates.rollback())),
    Reboot: unary<unknown, Record<string, never>>(async () => {
      await updates.reboot();
      return {};
    }),
  };
}
