// A message that decodes but says something the contract does not allow (a restart policy no one knows).
// Thrown by the conversions on either side; the server answers INVALID_ARGUMENT for it (src/api/errors.ts
// maps …ValidationError, and any error with a `path`), the client reports it as it is.

export class MessageValidationError extends Error {
  override readonly name: string = 'MessageValidationError';
  constructor(readonly path: string, reason: string) {
    // The field leads the message, worded as the API's ValidationError.
    super(path === '' || reason.startsWith(`${path}:`) ? reason : `${path}: ${reason}`);
  }
}
