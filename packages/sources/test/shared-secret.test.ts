import { describe, expect, it } from '@jest/globals';
import { PRESETS, type SourceRequest } from '../src/index.js';
import { codeOf, presetUnderTest } from './support.js';

const SECRET = 'shared-secret-0123456789abcdef';
const BODY = JSON.stringify({ ticket_id: 'OPS-1', status: 'closed' });
const { preset, settings, request } = presetUnderTest('token', { secret: SECRET });

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const authenticate = (headers: SourceRequest['headers'], sourceSettings = settings()) =>
  codeOf(() => preset.authenticate(request(BODY, headers), sourceSettings));

// packages/sources/src/shared-secret.ts, used by the freshdesk and token presets.
describe('shared secret: the three ways a sender can present it', () => {
  it('When the secret comes as Authorization: Bearer, then the delivery is genuine', () => {
    expect(authenticate({ authorization: `Bearer ${SECRET}` })).toBeUndefined();
  });

  it('When it comes as the password of Basic auth, whatever the user name, then it is genuine', () => {
    expect(authenticate({ authorization: basic('freshdesk', SECRET) })).toBeUndefined();
    expect(authenticate({ authorization: basic('', SECRET) })).toBeUndefined();
  });

  it('When it comes in X-Closeloop-Secret, then it is genuine', () => {
    expect(authenticate({ 'x-closeloop-secret': SECRET })).toBeUndefined();
  });

  it("When the source names its own header, then the secret is read from it (and the scheme's case does not matter)", () => {
    const custom = settings({ auth: { header: 'X-Desk-Token' } });
    expect(authenticate({ 'x-desk-token': SECRET }, custom)).toBeUndefined();
    expect(authenticate({ 'x-closeloop-secret': SECRET }, custom)).toBe('MISSING_SIGNATURE_HEADERS');
    expect(authenticate({ authorization: `bearer ${SECRET}` }, custom)).toBeUndefined();
  });
});

describe('shared secret: refusals', () => {
  it.each([
    ['a wrong Bearer token', { authorization: 'Bearer not-the-secret-0123456789' }],
    ['a wrong Basic password', { authorization: basic('freshdesk', 'not-the-secret') }],
    ['the secret as the Basic user name', { authorization: basic(SECRET, 'x') }],
    ['a wrong header value', { 'x-closeloop-secret': 'not-the-secret' }],
    ['the secret with a suffix', { authorization: `Bearer ${SECRET}x` }],
  ])('When the sender presents %s, then UNAUTHORIZED', (_what, headers) => {
    expect(authenticate(headers)).toBe('UNAUTHORIZED');
  });

  it.each([
    ['no header at all', {}],
    ['another Authorization scheme', { authorization: `Token ${SECRET}` }],
    [
      'Basic credentials without a colon',
      { authorization: `Basic ${Buffer.from(SECRET).toString('base64')}` },
    ],
  ])('When the sender presents %s, then MISSING_SIGNATURE_HEADERS', (_what, headers) => {
    expect(authenticate(headers)).toBe('MISSING_SIGNATURE_HEADERS');
  });

  it('When a wrong Authorization comes with the right custom header, then it is genuine: any presented value may match', () => {
    expect(authenticate({ authorization: 'Bearer wrong', 'x-closeloop-secret': SECRET })).toBeUndefined();
  });

  it('When the error is raised, then its message does not quote what was presented', () => {
    try {
      preset.authenticate(request(BODY, { authorization: 'Bearer leaked-value-0123456789' }), settings());
      throw new Error('expected a refusal');
    } catch (error) {
      expect((error as Error).message).not.toContain('leaked-value');
      expect((error as Error).message).not.toContain(SECRET);
    }
  });
});

describe('shared secret: rotation', () => {
  it('When two secrets are configured, then each verifies, and a third does not', () => {
    const rotating = settings({ secrets: ['old-shared-secret-0123456789', SECRET] });
    expect(authenticate({ authorization: `Bearer ${SECRET}` }, rotating)).toBeUndefined();
    expect(authenticate({ authorization: 'Bearer old-shared-secret-0123456789' }, rotating)).toBeUndefined();
    expect(authenticate({ authorization: 'Bearer third-secret-0123456789' }, rotating)).toBe('UNAUTHORIZED');
  });

  it('When the freshdesk preset is used, then it authenticates the same way', () => {
    const freshdesk = { ...settings(), name: 'freshdesk', type: 'freshdesk' as const };
    expect(
      codeOf(() =>
        PRESETS.freshdesk.authenticate(request(BODY, { authorization: basic('u', SECRET) }), freshdesk),
      ),
    ).toBeUndefined();
    expect(codeOf(() => PRESETS.freshdesk.authenticate(request(BODY, {}), freshdesk))).toBe(
      'MISSING_SIGNATURE_HEADERS',
    );
  });
});
