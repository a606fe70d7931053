export { desiredState, type DesiredState, type SettingsInputs } from './state.js';
export { desiredUnits, type DesiredUnits } from './units.js';
