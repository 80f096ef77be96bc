/**
 * Why a delivery is refused. The codes are the receiver's (apps/receiver/src/errors.ts maps each to
 * its status): 401 for everything about authenticity, 400 for a genuine delivery whose body is not
 * the vendor's shape. Messages never quote a secret or a signature.
 */
export type SourceErrorCode =
  | 'MISSING_SIGNATURE_HEADERS'
  | 'INVALID_SIGNATURE_HEADERS'
  | 'INVALID_SIGNATURE'
  | 'SIGNATURE_EXPIRED'
  | 'UNAUTHORIZED'
  | 'INVALID_JSON'
  | 'INVALID_BODY';

export class SourceError extends Error {
  override name = 'SourceError';
  constructor(
    readonly code: SourceErrorCode,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
  }
}
