import { StartRefusedError } from '../runtime/errors.js';

export class UnknownUnitError extends Error {
  constructor(readonly unit: string) {
    super(`unit ${JSON.stringify(unit)} not found`);
    this.name = 'UnknownUnitError';
  }
}

export class EssentialBootstrapError extends Error {
  constructor(readonly unit: string, reason: string) {
    super(`essential bootstrap unit ${unit} failed: ${reason}; host units are not started`);
    this.name = 'EssentialBootstrapError';
  }
}

/** The host refused the unit's spec: retrying cannot help, so the restart wrapper gives up at once. */
export class SpecError extends StartRefusedError {
  constructor(message: string) {
    super(message);
    this.name = 'SpecError';
  }
}
