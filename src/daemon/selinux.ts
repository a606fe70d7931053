import { readFile } from 'node:fs/promises';

export interface SelinuxState {
  /** SELinux is loaded (selinuxfs mounted with a policy). */
  active: boolean;
  mode: 'enforcing' | 'permissive' | 'disabled';
}

/** Reads the kernel's SELinux state from selinuxfs; absent selinuxfs means SELinux is off. */
export async function detectSelinux(selinuxfs = '/sys/fs/selinux'): Promise<SelinuxState> {
  try {
    const enforce = (await readFile(`${selinuxfs}/enforce`, 'utf8')).trim();
    return { active: true, mode: enforce === '1' ? 'enforcing' : 'permissive' };
  } catch {
    return { active: false, mode: 'disabled' };
  }
}
