import assert from 'node:assert/strict';
import { ConfigError, DAEMON_USAGE, parseDaemonArgs } from '../../../src/daemon/config';

describe('gpu-hookd command line', () => {
  it('reads every flag, as "--flag value" or "--flag=value"', () => {
    assert.deepEqual(parseDaemonArgs(['--config', '/tmp/c.json', '--root=/tmp/root', '--bus', 'unix:path=/tmp/bus', '--state-dir=/tmp/state', '--metrics-dir', '/tmp/prom']), {
      config: '/tmp/c.json',
      root: '/tmp/root',
      bus: 'unix:path=/tmp/bus',
      stateDir: '/tmp/state',
      metricsDir: '/tmp/prom',
    });
  });

  it('gives nothing for no arguments and help for --help or -h', () => {
    assert.deepEqual(parseDaemonArgs([]), {});
    assert.deepEqual(parseDaemonArgs(['--help']), { help: true });
    assert.deepEqual(parseDaemonArgs(['-h']), { help: true });
  });

  it('keeps an empty value: --bus= means the system bus', () => {
    assert.deepEqual(parseDaemonArgs(['--bus=']), { bus: '' });
  });

  it('lets a later flag win over an earlier one', () => {
    assert.deepEqual(parseDaemonArgs(['--root', '/a', '--root', '/b']), { root: '/b' });
  });

  const refused: [string[], string][] = [
    [['--rot', '/x'], `unknown option --rot; ${DAEMON_USAGE}`],
    [['start'], `unexpected argument "start"; ${DAEMON_USAGE}`],
    [['--root'], `option --root needs a value; ${DAEMON_USAGE}`],
  ];
  for (const [argv, sentence] of refused) {
    it(`refuses ${argv.join(' ')} with the usage`, () => {
      assert.throws(() => parseDaemonArgs(argv), (e: unknown) => e instanceof ConfigError && e.message === sentence);
    });
  }
});
