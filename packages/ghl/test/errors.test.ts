import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import {
  GHL_ERROR_CODES,
  GhlError,
  GhlErrorBody,
  errorCodeForStatus,
  isRetryableCode,
  type GhlErrorCode,
} from '../src/errors.js';

describe('errorCodeForStatus', () => {
  it.each<[number, GhlErrorCode]>([
    [400, 'BAD_REQUEST'],
    [401, 'UNAUTHORIZED'],
    [403, 'FORBIDDEN'],
    [404, 'NOT_FOUND'],
    [408, 'TIMEOUT'],
    [422, 'UNPROCESSABLE'],
    [429, 'RATE_LIMITED'],
    [500, 'SERVER_ERROR'],
    [502, 'SERVER_ERROR'],
    [503, 'SERVER_ERROR'],
    [504, 'SERVER_ERROR'],
    [405, 'BAD_REQUEST'],
    [409, 'BAD_REQUEST'],
    [413, 'BAD_REQUEST'],
    [301, 'BAD_RESPONSE'],
    [304, 'BAD_RESPONSE'],
  ])('When GHL answers %i, then the code is %s', (status, code) => {
    expect(errorCodeForStatus(status)).toBe(code);
  });

  it('When the code is transient (429, 5xx, timeout, network, a cancelled call), then it is retryable and nothing else is', () => {
    const retryable = GHL_ERROR_CODES.filter((code) => isRetryableCode(code));
    expect(retryable.sort()).toEqual(['ABORTED', 'NETWORK', 'RATE_LIMITED', 'SERVER_ERROR', 'TIMEOUT']);
  });
});

describe('GhlErrorBody', () => {
  it("When GHL's message is a string (400/401) or an array (422), then both parse", () => {
    expect(
      GhlErrorBody.parse({ statusCode: 401, message: 'Invalid JWT', error: 'Unauthorized' }).message,
    ).toBe('Invalid JWT');
    expect(
      GhlErrorBody.parse({
        statusCode: 422,
        message: ['property x should not exist'],
        error: 'Unprocessable Entity',
      }).message,
    ).toEqual(['property x should not exist']);
  });

  it('When a field has an unexpected type or GHL adds fields, then the rest of the body is kept', () => {
    const body = GhlErrorBody.parse({ statusCode: '500', message: { nested: true }, traceId: 'abc' });
    expect(body).toEqual({ statusCode: undefined, message: undefined, traceId: 'abc' });
  });
});

describe('GhlError', () => {
  const error = new GhlError({
    code: 'UNPROCESSABLE',
    message: 'GHL PUT /contacts/c/tasks/t/completed answered 422 (UNPROCESSABLE): a; b',
    method: 'PUT',
    path: '/contacts/c/tasks/t/completed',
    status: 422,
    body: { statusCode: 422, message: ['a', 'b'], error: 'Unprocessable Entity' },
    rateLimit: { remaining: 3 },
  });

  it('When built, then it is an Error named GhlError whose retryable follows its code', () => {
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('GhlError');
    expect(error.stack?.startsWith('GhlError: GHL PUT')).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.ghlMessages).toEqual(['a', 'b']);
  });

  it('When serialised, then JSON carries code, status, body, method, path and rate limit', () => {
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'GhlError',
      code: 'UNPROCESSABLE',
      message: error.message,
      retryable: false,
      status: 422,
      body: { statusCode: 422, message: ['a', 'b'], error: 'Unprocessable Entity' },
      method: 'PUT',
      path: '/contacts/c/tasks/t/completed',
      rateLimit: { remaining: 3 },
    });
  });

  it('When inspected, then only the documented fields are listed', () => {
    const shown = inspect(error, { depth: 10 });
    expect(shown).toContain("code: 'UNPROCESSABLE'");
    expect(Object.keys(error).sort()).toEqual(
      ['body', 'code', 'method', 'path', 'rateLimit', 'retryable', 'status'].sort(),
    );
  });
});
