/**
 * Issue 9, "Chaos: nothing lost", small: a few hundred signed events (re-sends, close/reopen pairs,
 * out of order) through two receiver processes and three worker processes sharing one AOF Redis,
 * while the GHL sandbox injects 5xx, 429, resets and latency, two workers are SIGKILLed and Redis is
 * restarted. The run itself is e2e/test/support/chaos.ts, shared with `pnpm chaos` (scripts/chaos.ts),
 * which runs it long.
 */
import { describe, expect, it } from '@jest/globals';
import { formatReport, problemsOf, runChaos } from './support/chaos.js';

describe('chaos: receivers, workers and Redis failing while GHL misbehaves', () => {
  it('When workers are SIGKILLed, Redis restarts and GHL answers 5xx, 429, resets and late, then every accepted event is completed in its task’s newest state or one dead letter', async () => {
    const report = await runChaos({ events: 240, workers: 3, receivers: 2, rate: 25, timeoutMs: 100_000 });
    // Shown when an assertion fails (and in the verbose output): the counts and the first problems.
    const summary = `${formatReport(report)}\n${report.chaos.events.join('\n')}\n${report.details.join('\n')}`;
    expect({ problems: problemsOf(report), summary }).toEqual({ problems: [], summary });

    const deadLetters = Object.values(report.deadLetters).reduce((sum, n) => sum + n, 0);
    expect(report.accepted).toBe(report.sent);
    expect(report.completedAsExpected + deadLetters).toBe(report.accepted);
    expect(Object.values(report.lost).reduce((sum, n) => sum + n, 0)).toBe(0);
    expect(report.wrongStateTasks).toBe(0);
    expect(report.deadLettersWrittenTwice).toBe(0);
    // Every re-send was answered as a duplicate (once per re-send at least).
    expect(report.duplicatesAnswered).toBeGreaterThanOrEqual(report.resent);
    // The events GHL always refuses are dead letters, each with its reason.
    expect(report.doomedEvents).toBeGreaterThan(0);
    expect(report.doomedNotDeadLettered).toBe(0);
    expect(report.deadLetters.RETRIES_EXHAUSTED).toBeGreaterThan(0);
    // The chaos happened: two kills, one restart, answers 503 while Redis was away, GHL's faults.
    expect(report.chaos).toMatchObject({ workerKills: 2, redisRestarts: 1 });
    expect(report.retriedAnswers['503']).toBeGreaterThan(0);
    expect(Object.keys(report.ghlAnswers)).toEqual(expect.arrayContaining(['0', '429', '500', '502', '503']));
    // The processes still running at the end drain and exit 0 on SIGTERM.
    expect(report.exitCodes.every((code) => code === 0)).toBe(true);
  }, 150_000);
});
