// Resolving a unit name for an RPC: one place that decides INVALID_ARGUMENT vs NOT_FOUND.
import type { SupervisorApi, UnitStatus } from '../supervisor/types.js';
import { NotFoundError, ValidationError } from './errors.js';

/** The unit's status, or NOT_FOUND naming it; checked before any action so clients get one clear code. */
export function requireUnit(supervisor: SupervisorApi, name: string): UnitStatus {
  if (name === '') throw new ValidationError('name', 'a unit name is required');
  const unit = supervisor.get(name);
  if (unit === undefined) throw new NotFoundError(`unknown unit ${JSON.stringify(name)}`);
  return unit;
}
