// What the lab's mocha files share: booting a scenario (preparing the image on first use), finding
// a run in the result, reading the few facts the tests assert on out of a snapshot.

import assert from 'node:assert/strict';
import { FBCON_NAME } from '../../src/sim/scenario';
import type { GuestResult, RunOutcome, Snapshot } from './lab-job';
import type { LabScenario } from './lab-scenarios';
import { bootLab, type LabBoot } from './runner/lab-boot';
import { prepareLabImage } from './runner/lab-image';

/** A first run downloads the kernel (~70 MB) and builds the images; a boot then takes 10-30 s. */
export const LAB_SETUP_TIMEOUT_MS = 15 * 60_000;
/** Replaying a job on the simulated host (sweeps wait for settled states between runs). */
export const SIM_REPLAY_TIMEOUT_MS = 120_000;

/**
 * Boots the scenario once, before the tests of the enclosing describe block; the returned function
 * gives the boot to those tests. A lab that cannot be prepared fails the block with LabError's sentence.
 */
export function bootedOnce(scenario: LabScenario): () => LabBoot {
  let boot: LabBoot | undefined;
  before(async function () {
    this.timeout(LAB_SETUP_TIMEOUT_MS);
    const image = await prepareLabImage();
    boot = await bootLab(image, scenario.name, scenario.machine, scenario.job);
    assert.equal(boot.result.kernel, image.kernel.version, 'the guest ran a kernel other than the lab image');
  });
  return () => {
    assert.ok(boot, `lab scenario ${scenario.name} did not boot`);
    return boot;
  };
}

export function baselineOf(result: GuestResult): Snapshot {
  assert.ok(result.baseline, 'the guest reported no starting state');
  return result.baseline;
}

export function runNamed(result: GuestResult, label: string): RunOutcome {
  const run = result.runs?.find((r) => r.label === label);
  assert.ok(run, `the job has no run "${label}" (runs: ${(result.runs ?? []).map((r) => r.label).join(', ')})`);
  return run;
}

export function runsStartingWith(result: GuestResult, prefix: string): RunOutcome[] {
  return (result.runs ?? []).filter((r) => r.label.startsWith(prefix));
}

export function driverOf(snapshot: Snapshot, address: string): { driver: string | null; override: string | null } {
  const device = snapshot.pciDevices[address];
  assert.ok(device, `${address} is not in the snapshot`);
  return device;
}

/** fbcon's vtconsole (found by name: its number changes), or undefined when it is gone. */
export function fbconOf(snapshot: Snapshot): { name: string; bind: boolean } | undefined {
  return snapshot.vtconsoles.find((v) => v.name === FBCON_NAME);
}

/** The run succeeded, or the assertion shows the engine's sentence. */
export function assertOk(run: RunOutcome): void {
  assert.ok(run.ok, `${run.action} "${run.label}" failed: ${run.error?.message}`);
}
