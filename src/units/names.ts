// Name rules. Unit names become container ids, directory names and containerd
// labels, so they are deliberately narrow (Bottlerocket's host-container rule).

export const UNIT_NAME_MAX = 76;
const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Returns why `name` is not a valid unit name, or undefined when it is. */
export function unitNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > UNIT_NAME_MAX) return `must be at most ${UNIT_NAME_MAX} characters (got ${name.length})`;
  if (!UNIT_NAME.test(name)) {
    return 'must contain only ASCII letters, digits and "-", and start with a letter or digit';
  }
  return undefined;
}

export function isValidEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}
