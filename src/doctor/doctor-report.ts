// The doctor's result as one value (what --json prints) and as the checklist a person reads:
// ✔ for a pass, ✖ for a failure, ! for a warning, each failure and warning followed by its fix.

import type { Check, CheckStatus } from './check';

export interface DoctorReport {
  root: string;
  /** The VM checked, or null for the host alone. */
  vm: string | null;
  /** No check failed (warnings allowed). */
  ok: boolean;
  counts: Record<CheckStatus, number>;
  host: Check[];
  vmChecks: Check[];
}

export function buildDoctorReport(root: string, vm: string | null, host: Check[], vmChecks: Check[]): DoctorReport {
  const all = [...host, ...vmChecks];
  const count = (s: CheckStatus): number => all.filter((c) => c.status === s).length;
  const counts = { ok: count('ok'), warn: count('warn'), fail: count('fail') };
  return { root, vm, ok: counts.fail === 0, counts, host, vmChecks };
}

const MARK: Record<CheckStatus, string> = { ok: '✔', warn: '!', fail: '✖' };

export function renderDoctorReport(report: DoctorReport): string {
  const lines = [`host ${report.root}`, ...report.host.flatMap(renderCheck)];
  if (report.vm !== null) lines.push('', `VM ${report.vm}`, ...report.vmChecks.flatMap(renderCheck));
  const { ok, warn, fail } = report.counts;
  lines.push('', `${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed${fail ? ': fix the ✖ lines above, then run gpu-hookctl doctor again' : ''}`);
  return lines.join('\n') + '\n';
}

function renderCheck(check: Check): string[] {
  const lines = [`${MARK[check.status]} ${check.detail}`];
  if (check.fix !== undefined) lines.push(`    fix: ${check.fix}`);
  return lines;
}
