import assert from 'node:assert/strict';
import { FBCON_NAME } from '../../../src/sim/scenario';
import { bindWritten, ConsoleState, consoleFramebuffers, framebufferRegistered, framebuffersUnregistered } from '../../../src/sim/vtconsole-rules';

const DUMMY = '(M) dummy device';

/** The lab's fault guest at boot: fbcon at vtcon0 on fb0 (first bochs display), dummy at vtcon1; fb1 is the second display. */
function fbconOnFb0(): ConsoleState {
  return {
    vtconsoles: [
      { index: 0, name: FBCON_NAME, bound: true },
      { index: 1, name: DUMMY, bound: false },
    ],
    fbconFramebuffer: 0,
  };
}

const binds = (s: ConsoleState) => s.vtconsoles.map((v) => `vtcon${v.index} ${v.bound ? 1 : 0} ${v.name}`);

describe('vtconsole rules (fbcon as the 6.1 kernel runs it)', () => {
  describe('with two framebuffers', () => {
    it('fbcon\'s framebuffer going while another stays leaves fbcon registered but unbound, the dummy console bound', () => {
      const s = framebuffersUnregistered(fbconOnFb0(), [0], [1]);
      assert.deepEqual(binds(s), [`vtcon0 0 ${FBCON_NAME}`, `vtcon1 1 ${DUMMY}`]);
      assert.equal(s.fbconFramebuffer, null);
    });

    it('a framebuffer registering again makes the unbound fbcon take over by itself, on that framebuffer', () => {
      const s = framebufferRegistered(framebuffersUnregistered(fbconOnFb0(), [0], [1]), 0);
      assert.deepEqual(binds(s), [`vtcon0 1 ${FBCON_NAME}`, `vtcon1 0 ${DUMMY}`]);
      assert.equal(s.fbconFramebuffer, 0);
    });

    it('the other framebuffer going or coming changes nothing', () => {
      const start = fbconOnFb0();
      assert.deepEqual(framebuffersUnregistered(start, [1], [0]), start);
      assert.deepEqual(framebufferRegistered(start, 1), start);
    });

    it('fbcon unbound by hand, then its framebuffer gone: the dummy console keeps the VTs until a framebuffer registers', () => {
      const byHand = bindWritten(fbconOnFb0(), 0, '0\n', [0, 1]);
      const gone = framebuffersUnregistered(byHand, [0], [1]);
      assert.deepEqual(binds(gone), [`vtcon0 0 ${FBCON_NAME}`, `vtcon1 1 ${DUMMY}`]);
      assert.deepEqual(binds(framebufferRegistered(gone, 0)), [`vtcon0 1 ${FBCON_NAME}`, `vtcon1 0 ${DUMMY}`]);
    });

    it('fbcon bound by hand after it lost its framebuffer draws on the first one registered', () => {
      const lost = framebuffersUnregistered(fbconOnFb0(), [0], [1, 2]);
      const bound = bindWritten(lost, 0, '1', [1, 2]);
      assert.deepEqual(binds(bound), [`vtcon0 1 ${FBCON_NAME}`, `vtcon1 0 ${DUMMY}`]);
      assert.equal(bound.fbconFramebuffer, 1);
      assert.equal(framebuffersUnregistered(bound, [1], [2]).fbconFramebuffer, null, 'fbcon lets go when that one goes too');
    });
  });

  describe('with one framebuffer', () => {
    it('the last framebuffer going makes fbcon\'s vtconsole vanish and binds the first other console', () => {
      const s = framebuffersUnregistered(fbconOnFb0(), [0], []);
      assert.deepEqual(binds(s), [`vtcon1 1 ${DUMMY}`]);
      assert.equal(s.fbconFramebuffer, null);
    });

    it('a framebuffer registering then brings fbcon back at the lowest free number, bound, the others unbound', () => {
      const amd: ConsoleState = { vtconsoles: [{ index: 0, name: '(S) dummy device', bound: true }], fbconFramebuffer: null };
      const s = framebufferRegistered(amd, 0);
      assert.deepEqual(binds(s), ['vtcon0 0 (S) dummy device', `vtcon1 1 ${FBCON_NAME}`]);
      assert.equal(s.fbconFramebuffer, 0);
    });
  });

  describe('writes to vtconN/bind', () => {
    it('zero hands the VTs to the other console; a number binds and takes them back; any other text counts as 0', () => {
      const off = bindWritten(fbconOnFb0(), 0, '0', [0]);
      assert.deepEqual(binds(off), [`vtcon0 0 ${FBCON_NAME}`, `vtcon1 1 ${DUMMY}`]);
      assert.deepEqual(binds(bindWritten(off, 0, '0x1\n', [0])), [`vtcon0 1 ${FBCON_NAME}`, `vtcon1 0 ${DUMMY}`]);
      assert.deepEqual(bindWritten(off, 0, 'yes', [0]), off);
    });

    it('a console with no other to hand over to stays bound; an unknown number is ENOENT', () => {
      const alone: ConsoleState = { vtconsoles: [{ index: 0, name: DUMMY, bound: true }], fbconFramebuffer: null };
      assert.deepEqual(bindWritten(alone, 0, '0', []), alone);
      assert.throws(() => bindWritten(alone, 3, '1', []), (e: Error & { code?: string }) => e.code === 'ENOENT');
    });
  });

  describe('FBIOGET_CON2FBMAP', () => {
    it('maps the consoles to fbcon\'s framebuffer, to none once fbcon is unbound by hand, and to the first one left after its own went', () => {
      assert.deepEqual(consoleFramebuffers(fbconOnFb0(), [0, 1]), [0]);
      const byHand = bindWritten(fbconOnFb0(), 0, '0\n', [0, 1]);
      assert.deepEqual(consoleFramebuffers(byHand, [0, 1]), []);
      assert.deepEqual(consoleFramebuffers(bindWritten(byHand, 0, '1\n', [0, 1]), [0, 1]), [0]);
      assert.deepEqual(consoleFramebuffers(framebuffersUnregistered(fbconOnFb0(), [0], [1]), [1]), [1]);
      assert.deepEqual(consoleFramebuffers(framebuffersUnregistered(byHand, [0], [1]), [1]), [1]);
      assert.deepEqual(consoleFramebuffers(fbconOnFb0(), []), []);
    });
  });
});
