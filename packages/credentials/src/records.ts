import { z } from 'zod';

/** GHL ids are opaque strings (e.g. "l1C08ntBrFjLS0elLIYU"); refuse what would blur the Redis key layout. */
export const GhlId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_-]+$/, 'may contain only letters, digits, "_" and "-"');

const Secret = z.string().min(1);
/** Epoch milliseconds. */
const ExpiresAt = z.number().int().nonnegative();

/** A sub-account Private Integration Token: static, never refreshed (docs/ghl-api.md §3). */
export const PitCredentials = z.object({ kind: z.literal('pit'), locationId: GhlId, token: Secret });
/** A Location (sub-account) install of the marketplace app: a refreshable pair. */
export const OAuthLocationCredentials = z.object({
  kind: z.literal('oauth'),
  locationId: GhlId,
  userType: z.literal('Location'),
  accessToken: Secret,
  refreshToken: Secret,
  expiresAt: ExpiresAt,
  scope: z.string().optional(),
});
/** A location token minted from a Company install (`POST /oauth/locationToken`); no refresh token: mint again. */
export const CompanyMintedCredentials = z.object({
  kind: z.literal('company-minted'),
  locationId: GhlId,
  companyId: GhlId,
  accessToken: Secret,
  expiresAt: ExpiresAt,
});
export const LocationCredentials = z.discriminatedUnion('kind', [
  PitCredentials,
  OAuthLocationCredentials,
  CompanyMintedCredentials,
]);
export type PitCredentials = z.infer<typeof PitCredentials>;
export type OAuthLocationCredentials = z.infer<typeof OAuthLocationCredentials>;
export type CompanyMintedCredentials = z.infer<typeof CompanyMintedCredentials>;
export type LocationCredentials = z.infer<typeof LocationCredentials>;

/** A Company (agency) install: its own refreshable pair and the locations it may mint tokens for. */
export const CompanyCredentials = z.object({
  companyId: GhlId,
  accessToken: Secret,
  refreshToken: Secret,
  expiresAt: ExpiresAt,
  approvedLocations: z.array(GhlId),
  scope: z.string().optional(),
});
export type CompanyCredentials = z.infer<typeof CompanyCredentials>;

/** The bearer token a location record holds. */
export function accessTokenOf(record: LocationCredentials): string {
  return record.kind === 'pit' ? record.token : record.accessToken;
}
