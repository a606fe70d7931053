// berth.v1.Updates: the updater's operations, translated. The updater itself lives in src/updates/
// (wired by the daemon); its refusals carry their gRPC code (ABORTED while another operation runs,
// FAILED_PRECONDITION for a wrong state, an unset setting or a refused repository, RESOURCE_EXHAUSTED when no
// reboot slot was granted within the caller's wait).
import type * as grpc from '@grpc/grpc-js';
import { afterAnswerWritten, unary } from './calls.js';
import { toStatus } from './errors.js';
import { updateStatusToWire, type UpdateStatusInfo, type WireUpdateStatus } from '../wire/updates.js';

/** The longest a caller may have berthd wait for a reboot slot: an answer within the hour, whatever it asks. */
export const MAX_REBOOT_WAIT_MS = 3_600_000;

/** A reboot the strategy let go: the answer, and the command still to run once the answer is out. */
export interface RebootAnswer {
  readonly message: string;
  /** The version the host boots into; undefined: no update is ready. */
  readonly toVersion?: string;
  /** Runs updates.reboot-command (once); never rejects: its failure is logged and kept as the last error. */
  run(): Promise<void>;
}

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
  /**
   * What updates.reboot-strategy asks for, waiting at most `waitMs` for a reboot slot (`signal`: the caller
   * went away); resolves with the answer and the command, which the caller runs after answering.
   */
  reboot(o: { waitMs: number; signal?: AbortSignal }): Promise<RebootAnswer>;
}

/**
 * Reboot: answered before updates.reboot-command runs, since the command usually stops berthd (systemctl
 * reboot) and an answer after it would be a broken connection: the command runs once the answer has left
 * berthd (afterAnswerWritten). The caller going away while berthd waits for a slot ends the wait.
 */
function rebootCall(updates: UpdatesApi): grpc.handleUnaryCall<{ wait_ms?: number }, { message: string; to_version: string }> {
  return (call, callback) => {
    const gone = new AbortController();
    call.once('cancelled', () => gone.abort());
    const asked = Number(call.request.wait_ms ?? 0);
    const waitMs = Number.isFinite(asked) ? Math.min(Math.max(0, asked), MAX_REBOOT_WAIT_MS) : 0;
    updates.reboot({ waitMs, signal: gone.signal }).then((answer) => {
      afterAnswerWritten(call, () => void answer.run());
      callback(null, { message: answer.message, to_version: answer.toVersion ?? '' });
    }, (err: unknown) => callback(toStatus(err)));
  };
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
    Reboot: rebootCall(updates),
  };
}
