import { describe, expect, it } from '@jest/globals';
import { closeOnce, settlesWithin } from '../src/index.js';

describe('closeOnce and settlesWithin', () => {
  it('When a memoised close is called several times, then the work runs once and every caller gets its promise', async () => {
    let calls = 0;
    const close = closeOnce(() => {
      calls += 1;
      return Promise.resolve(calls);
    });
    const [first, second] = await Promise.all([close(), close()]);
    expect([first, second, await close(), calls]).toEqual([1, 1, 1, 1]);
  });

  it('When a memoised close throws synchronously, then callers get a rejection, not an exception', async () => {
    const close = closeOnce<void>(() => {
      throw new Error('broken');
    });
    await expect(close()).rejects.toThrow('broken');
    await expect(close()).rejects.toThrow('broken');
  });

  it('When a promise resolves in time, then settlesWithin is true; when it never settles, false after the bound', async () => {
    expect(await settlesWithin(Promise.resolve('x'), 1_000)).toBe(true);
    const startedAt = performance.now();
    expect(await settlesWithin(new Promise(() => undefined), 50)).toBe(false);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(45);
  });

  it('When a promise rejects in time, then settlesWithin rejects with its error', async () => {
    await expect(settlesWithin(Promise.reject(new Error('nope')), 1_000)).rejects.toThrow('nope');
  });
});
