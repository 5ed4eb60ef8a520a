import assert from 'node:assert/strict';
import {
  LogLevelError,
  createLogger,
  journalFieldName,
  journalLine,
  logStep,
  setLogLevel,
  syslogLevelName,
  timedStep,
} from '../../../src/daemon/logger';

function capture(journal: boolean, level: 'info' | 'trace' = 'info') {
  const lines: string[] = [];
  const logger = createLogger({ level, journal, destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines };
}

describe('daemon log', () => {
  describe('journal line format', () => {
    it('prefixes each level with its syslog priority, as sd-daemon(3) defines', () => {
      const { logger, lines } = capture(true, 'trace');
      logger.trace('t');
      logger.debug('d');
      logger.info('i');
      logger.warn('w');
      logger.error('e');
      logger.fatal('f');
      assert.deepEqual(lines, ['<7>t\n', '<7>d\n', '<6>i\n', '<4>w\n', '<3>e\n', '<2>f\n']);
    });

    it('keeps the structured fields readable as key=value, quoting what needs it', () => {
      const { logger, lines } = capture(true);
      logger.child({ vm: 'win 10' }).info({ step: 'unbind', device: '0000:01:00.0', ms: 12.5, ok: true, ids: [1, 2] }, 'unbound');
      assert.deepEqual(lines, ['<6>unbound vm="win 10" step=unbind device=0000:01:00.0 ms=12.5 ok=true ids=[1,2]\n']);
    });

    it('carries no time, PID or host name: the journal records them', () => {
      const { logger, lines } = capture(true);
      logger.info('x');
      assert.equal(lines[0], '<6>x\n');
    });

    it('keeps one event on one line, so journald files every part under its priority', () => {
      const { logger, lines } = capture(true);
      logger.error({ detail: 'a\nb' }, 'first\nsecond');
      assert.deepEqual(lines, ['<3>first\\nsecond detail="a\\nb"\n']);
    });

    it('writes an error as its sentence, without the stack', () => {
      const { logger, lines } = capture(true);
      logger.warn(new Error('unbinding 0000:01:00.0 failed: EBUSY'), 'step failed');
      assert.deepEqual(lines, ['<4>step failed err="unbinding 0000:01:00.0 failed: EBUSY"\n']);
    });

    it('names native journal fields as journald allows: upper case, words split, never a leading "_" or digit', () => {
      assert.deepEqual(
        ['gpu', 'durationMs', 'MESSAGE_ID', 'weird-key.x', '_SYSTEMD_UNIT', '9lives', 'x'.repeat(70), '__'].map(journalFieldName),
        ['GPU', 'DURATION_MS', 'MESSAGE_ID', 'WEIRD_KEY_X', 'SYSTEMD_UNIT', 'LIVES', 'X'.repeat(64), undefined],
      );
    });

    it('turns any pino JSON line into the same format', () => {
      assert.equal(journalLine('{"level":40,"msg":"slow","device":"0000:01:00.0"}'), '<4>slow device=0000:01:00.0\n');
    });
  });

  it('writes pino JSON with a time stamp when not under the journal', () => {
    const { logger, lines } = capture(false);
    logger.info({ device: '0000:01:00.0' }, 'hello');
    const event = JSON.parse(lines[0]) as Record<string, unknown>;
    assert.equal(event.level, 30);
    assert.equal(event.msg, 'hello');
    assert.equal(event.device, '0000:01:00.0');
    assert.match(String(event.time), /^\d{4}-\d\d-\d\dT/);
  });

  describe('runtime level', () => {
    it('changes what is written, for the logger and the children it already has', () => {
      const { logger, lines } = capture(true);
      const engine = logger.child({ area: 'engine' });
      engine.debug('hidden');
      assert.equal(setLogLevel(logger, 'debug'), 'debug');
      engine.debug('shown');
      setLogLevel(logger, 'error');
      engine.warn('hidden again');
      assert.deepEqual(lines, ['<7>shown area=engine\n']);
    });

    it('accepts the syslog names LogControl1 uses, and reports the level in them', () => {
      const { logger } = capture(true);
      assert.equal(setLogLevel(logger, 'warning'), 'warn');
      assert.equal(syslogLevelName(logger), 'warning');
      assert.equal(setLogLevel(logger, 'err'), 'error');
      assert.equal(syslogLevelName(logger), 'err');
      assert.equal(setLogLevel(logger, 'notice'), 'info');
      assert.equal(setLogLevel(logger, 'crit'), 'fatal');
      assert.equal(syslogLevelName(logger), 'crit');
      setLogLevel(logger, 'trace');
      assert.equal(syslogLevelName(logger), 'debug');
    });

    it('refuses an unknown level with a sentence listing the known ones, leaving the level as it was', () => {
      const { logger } = capture(true);
      assert.throws(
        () => setLogLevel(logger, 'loud'),
        (e: unknown) =>
          e instanceof LogLevelError &&
          e.kind === 'InvalidArgument' &&
          e.message === 'unknown log level "loud": use one of fatal, error, warn, info, debug, trace (or a syslog level: emerg, alert, crit, err, warning, notice, info, debug)',
      );
      assert.throws(() => setLogLevel(logger, 'toString'), LogLevelError);
      assert.equal(logger.level, 'info');
    });
  });

  describe('step events', () => {
    it('logs one event per step with device, step, duration and outcome', () => {
      const { logger, lines } = capture(true);
      logStep(logger, { device: '0000:01:00.0', step: 'unbind', ms: 12.345, outcome: 'done', driver: 'nouveau' });
      logStep(logger, { device: '0000:01:00.1', step: 'bind-vfio', ms: 3, outcome: 'failed', error: 'EBUSY' });
      assert.deepEqual(lines, [
        '<6>unbind 0000:01:00.0: done step=unbind device=0000:01:00.0 ms=12.3 outcome=done driver=nouveau\n',
        '<3>bind-vfio 0000:01:00.1: failed step=bind-vfio device=0000:01:00.1 ms=3 outcome=failed error=EBUSY\n',
      ]);
    });

    it('times a step that succeeds and one that fails, rethrowing the failure', async () => {
      const { logger, lines } = capture(false);
      assert.equal(await timedStep(logger, '0000:01:00.0', 'probe', () => Promise.resolve(7)), 7);
      await assert.rejects(timedStep(logger, '0000:01:00.0', 'unbind', () => Promise.reject(new Error('EBUSY'))), /EBUSY/);
      const [done, failed] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(done.step, 'probe');
      assert.equal(done.outcome, 'done');
      assert.equal(typeof done.ms, 'number');
      assert.equal(failed.outcome, 'failed');
      assert.equal(failed.error, 'EBUSY');
      assert.equal(failed.level, 50);
    });
  });
});
