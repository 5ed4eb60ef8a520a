// File operations on a simulated host's tree, root-relative. Symlinks are written relative to
// their own directory, as sysfs shows them ("driver -> ../../../../bus/pci/drivers/nouveau").

import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveUnderRoot } from '../host/host-io';
import { noteChange } from './undo-log';

/** Every change goes through noteChange first, so that a kernel operation in progress can be undone (undo-log.ts). */
export class Tree {
  private readonly resolved: string;

  constructor(readonly root: string) {
    this.resolved = path.resolve(root);
  }

  abs(rel: string): string {
    return resolveUnderRoot(this.root, rel);
  }

  dir(rel: string): void {
    noteChange(this.resolved, rel);
    fs.mkdirSync(this.abs(rel), { recursive: true });
  }

  file(rel: string, content: string | Buffer): void {
    noteChange(this.resolved, rel);
    const abs = this.abs(rel);
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    let fd: number;
    try {
      // Rewriting in place: truncating with O_TRUNC makes ext4 flush on close.
      fd = fs.openSync(abs, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, data);
      return;
    }
    try {
      fs.writeSync(fd, data, 0, data.length, 0);
      fs.ftruncateSync(fd, data.length);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A symlink at `rel` pointing at the root-relative `targetRel`, replacing what was there. */
  link(rel: string, targetRel: string): void {
    noteChange(this.resolved, rel);
    const abs = this.abs(rel);
    const targetAbs = this.abs(targetRel);
    let target = path.relative(path.dirname(abs), targetAbs);
    // Pointing at an ancestor, sysfs climbs one level more and names it ("../../../0000:01:00.0").
    if (target.split(path.sep).every((part) => part === '..' || part === '')) {
      target = path.join(target, '..', path.basename(targetAbs));
    }
    unlinkIfPresent(abs);
    try {
      fs.symlinkSync(target, abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.symlinkSync(target, abs);
    }
  }

  /** A symlink with a literal target (e.g. a process's fd link to "/dev/dri/card0"). */
  rawLink(rel: string, target: string): void {
    noteChange(this.resolved, rel);
    const abs = this.abs(rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.rmSync(abs, { force: true });
    fs.symlinkSync(target, abs);
  }

  /** Removes a file, link or directory tree; nothing there is fine. */
  remove(rel: string): void {
    noteChange(this.resolved, rel);
    const abs = this.abs(rel);
    try {
      fs.unlinkSync(abs);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'EPERM') fs.rmSync(abs, { recursive: true, force: true });
      else if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
  }

  read(rel: string): string {
    return fs.readFileSync(this.abs(rel), 'utf8');
  }

  /** Names in a directory; none when it does not exist. */
  entries(rel: string): string[] {
    try {
      return fs.readdirSync(this.abs(rel));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  exists(rel: string): boolean {
    return fs.existsSync(this.abs(rel));
  }

  isLink(rel: string): boolean {
    try {
      return fs.lstatSync(this.abs(rel)).isSymbolicLink();
    } catch {
      return false;
    }
  }

  /** True for a symlink or file even when a symlink dangles. */
  present(rel: string): boolean {
    try {
      fs.lstatSync(this.abs(rel));
      return true;
    } catch {
      return false;
    }
  }
}

function unlinkIfPresent(abs: string): void {
  try {
    fs.unlinkSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
