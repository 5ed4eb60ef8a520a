// A HostIO that passes everything to the real one and taps the writes: it records each (with its
// time in the kernel), can call back after each, and can refuse the Nth write. It also times every
// call, reads included (bench/lab-bench.ts --trace shows them). Refusing is how the
// lab fails a transition midway on the real kernel: chmod means nothing to root on sysfs, and every
// write before and after the refused one (the rollback) still goes to the real kernel.

import { HostWriteError, type HostIO, type WriteOptions } from '../../../src/host/host-io';
import type { ConsoleMap } from '../../../src/host/fbcon-map';
import type { VfioGroupStatus } from '../../../src/host/vfio-group-status';

export interface TappedWrite {
  /** Root-relative path, as the engine wrote it. */
  path: string;
  value: string;
  ms: number;
  /** The error's message when the write failed (refused here or by the kernel). */
  error?: string;
}

export interface TapOptions {
  /** Refuse the write with this 1-based number with EIO, before it reaches the kernel. */
  failAt?: number;
  /** Called after each write, failed or not (snapshots are taken here). */
  afterWrite?: (write: TappedWrite) => void;
  /** Time every call, reads too, into `calls` (writes are always timed). */
  timeCalls?: boolean;
}

/** One HostIO call as the tap saw it: `at` is when it started (performance.now()). */
export interface TappedCall {
  op: string;
  path: string;
  at: number;
  ms: number;
}

export const INJECTED_ERRNO = 'EIO';

export class TappedHostIO implements HostIO {
  readonly writes: TappedWrite[] = [];
  readonly calls: TappedCall[] = [];

  constructor(
    private readonly inner: HostIO,
    private readonly options: TapOptions = {},
  ) {}

  get root(): string {
    return this.inner.root;
  }

  abs(rel: string): string {
    return this.inner.abs(rel);
  }

  readText(rel: string): string | undefined {
    return this.timed('readText', rel, () => this.inner.readText(rel));
  }

  readLinkName(rel: string): string | undefined {
    return this.timed('readLinkName', rel, () => this.inner.readLinkName(rel));
  }

  readLink(rel: string): string | undefined {
    return this.timed('readLink', rel, () => this.inner.readLink(rel));
  }

  readBytes(rel: string, offset: number, length: number): Buffer | undefined {
    return this.timed('readBytes', rel, () => this.inner.readBytes(rel, offset, length));
  }

  list(rel: string): string[] {
    return this.timed('list', rel, () => this.inner.list(rel));
  }

  exists(rel: string): boolean {
    return this.timed('exists', rel, () => this.inner.exists(rel));
  }

  async write(rel: string, value: string, options?: WriteOptions): Promise<void> {
    // Numbered and listed as issued: the runs of a group's functions write side by side, so writes
    // may end in another order than they began.
    const entry: TappedWrite = { path: rel, value, ms: 0 };
    this.writes.push(entry);
    const number = this.writes.length;
    const started = performance.now();
    let error: unknown;
    try {
      if (number === this.options.failAt) throw new HostWriteError(this.abs(rel), value, INJECTED_ERRNO);
      await this.inner.write(rel, value, options);
    } catch (e) {
      error = e;
    }
    entry.ms = performance.now() - started;
    this.calls.push({ op: 'write', path: `${rel} <- ${value.trim() || '(clear)'}`, at: started, ms: entry.ms });
    if (error !== undefined) entry.error = error instanceof Error ? error.message : String(error);
    this.options.afterWrite?.(entry);
    if (error !== undefined) throw error;
  }

  loadModule(name: string, options?: WriteOptions): Promise<void> {
    return this.inner.loadModule(name, options);
  }

  unloadModule(name: string, options?: WriteOptions): Promise<void> {
    return this.inner.unloadModule(name, options);
  }

  consoleMap(): ConsoleMap {
    return this.timed('consoleMap', '', () => this.inner.consoleMap?.() ?? { answer: 'unavailable', why: 'the tapped HostIO has no kernel to ask' });
  }

  vfioGroupStatus(group: string): VfioGroupStatus {
    return this.timed('vfioGroupStatus', group, () => this.inner.vfioGroupStatus?.(group) ?? { answer: 'unavailable', why: 'the tapped HostIO has no kernel to ask' });
  }

  private timed<T>(op: string, path: string, call: () => T): T {
    if (!this.options.timeCalls) return call();
    const at = performance.now();
    try {
      return call();
    } finally {
      this.calls.push({ op, path, at, ms: performance.now() - at });
    }
  }
}
