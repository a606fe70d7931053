// Shape check for image references: [registry[:port]/]repo[/repo...][:tag][@sha256:<64 hex>].
// It follows the distribution/reference grammar closely enough to reject typos
// early; resolving and normalising (docker.io, :latest) is the image module's job.

const DOMAIN_COMPONENT = '(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = 'sha256:[a-f0-9]{64}';
const REFERENCE = new RegExp(
  `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`,
);
const NAME_MAX = 255;

/** Returns why `ref` is not a usable image reference, or undefined when it is. */
export function imageRefProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'must not be empty';
  if (/\s/.test(ref)) return 'must not contain whitespace';
  const at = ref.indexOf('@');
  if (at >= 0 && !/^sha256:[a-f0-9]{64}$/.test(ref.slice(at + 1))) {
    return 'digest must be "sha256:" followed by 64 lowercase hex digits';
  }
  const name = (at >= 0 ? ref.slice(0, at) : ref).replace(/:[^/]*$/, '');
  if (name.length > NAME_MAX) return `repository name must be at most ${NAME_MAX} characters`;
  if (!REFERENCE.test(ref)) {
    return 'must be an image reference like "registry.example.com/team/app:1.2" or "repo/app@sha256:<64 hex>" (repository path lowercase)';
  }
  return undefined;
}
