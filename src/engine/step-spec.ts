// Steps are plain data: they go into the journal as JSON and come back after a crash, so a later
// process can undo them. Each kind has one executor (steps/<kind>.ts) registered in a StepRegistry.
//
// StepSpecMap is an interface so that a later step kind is a one-file addition: its file augments
// the map (`declare module '../step-spec' { interface StepSpecMap { 'my-kind': {...} } }`) and
// registers its executor.

export interface StepSpecMap {
  /** Load a kernel module that provides a PCI driver. vfio-pci is never unloaded (keepLoaded). */
  'load-module': { module: string; driver: string; keepLoaded: boolean };
  /** Write driver_override; `previous` is what undo writes back (null: cleared). */
  'set-override': { device: string; value: string | null; previous: string | null };
  /** Unbind from `driver`; undo binds it back after restoring `restoreOverride`, which would otherwise block the bind. */
  'unbind-driver': { device: string; driver: string; restoreOverride: string | null };
  /**
   * drivers_probe, then wait (bounded) until the driver link reads `expect`; undo unbinds from `expect`.
   * `expect` null: the driver the kernel chooses (a function another tool had left off its host
   * driver, described by `leftover`), whichever it is or none; undo unbinds from whichever bound.
   */
  'probe-driver': { device: string; expect: string | null; leftover?: { driver: string | null; driverOverride: string | null } };
  /**
   * Wait (bounded) for /dev/vfio/<group>. The kernel creates it when the FIRST function of the group binds to
   * vfio-pci and removes it when the last one leaves, so it says nothing about the rest of the group: the plan
   * waits for it after every function is on vfio-pci.
   */
  'wait-vfio-group': { group: string };
}

export type StepKind = keyof StepSpecMap;

export type StepOf<K extends StepKind> = { kind: K } & StepSpecMap[K];

export type StepSpec = { [K in StepKind]: StepOf<K> }[StepKind];

/** The PCI function a step acts on, when it acts on one (reports and events name it). */
export function stepDevice(spec: StepSpec): string | undefined {
  const device = (spec as { device?: unknown }).device;
  return typeof device === 'string' ? device : undefined;
}
