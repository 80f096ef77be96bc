import { expect } from '@jest/globals';
import {
  PRESETS,
  SourceError,
  type MapResult,
  type MappedEvent,
  type SourceRequest,
  type SourceSettings,
  type SourceType,
} from '../src/index.js';

/** When the preset tests' deliveries are received, unless a test says otherwise. */
export const NOW = new Date('2026-11-28T10:00:00.000Z');

/**
 * One vendor preset as the receiver drives it: a source of that type holding `secret` (no location,
 * the preset's default states, the default shared-secret header), requests as they reach
 * `POST /webhooks/{type}`, and `deliver` in the receiver's order: authenticate, then parse, then map.
 */
export function presetUnderTest(type: SourceType, defaults: { secret: string }) {
  const preset = PRESETS[type];

  function settings(overrides: Partial<SourceSettings> = {}): SourceSettings {
    return {
      name: type,
      type,
      secrets: [defaults.secret],
      locationId: undefined,
      publicUrl: undefined,
      states: { closed: undefined, reopened: undefined },
      auth: { header: 'X-Closeloop-Secret' },
      ticketPattern: undefined,
      ...overrides,
    };
  }

  /** `overrides` for what a vendor's request changes: the path it calls, when it arrives. */
  function request(
    body: string | Buffer,
    headers: SourceRequest['headers'],
    overrides: Partial<Pick<SourceRequest, 'method' | 'url' | 'receivedAt'>> = {},
  ): SourceRequest {
    return {
      method: 'POST',
      url: `/webhooks/${type}`,
      headers,
      rawBody: Buffer.isBuffer(body) ? body : Buffer.from(body),
      receivedAt: NOW,
      ...overrides,
    };
  }

  function deliver(req: SourceRequest, sourceSettings = settings()): MapResult {
    preset.authenticate(req, sourceSettings);
    return preset.map(JSON.parse(req.rawBody.toString('utf8')), req, sourceSettings);
  }

  return { preset, settings, request, deliver };
}

/** The SourceError code `action` throws, undefined when it throws nothing; other errors propagate. */
export function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof SourceError) return error.code;
    throw error;
  }
  return undefined;
}

/** The one event a delivery mapped to; fails the test when it was ignored or mapped to several. */
export function onlyEvent(result: MapResult): MappedEvent {
  if (result.kind !== 'events') throw new Error(`expected events, got ignored: ${result.reason}`);
  expect(result.events).toHaveLength(1);
  const [mapped] = result.events;
  if (!mapped) throw new Error('no event');
  return mapped;
}
