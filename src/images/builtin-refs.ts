/** References of the images berthd builds itself from busybox-static (no registry needed). */
export const ADMIN_IMAGE = 'localhost/berth/admin:latest';
export const CONTROL_IMAGE = 'localhost/berth/control:latest';

export function isBuiltinImage(ref: string): boolean {
  return ref === ADMIN_IMAGE || ref === CONTROL_IMAGE;
}
