// The contract between the host side of the lab and the guest agent: the job the host writes to
// the output share before boot, and the result the agent writes back. Plain JSON both ways.

export interface ProbeJob {
  kind: 'probe';
}

export type GuestJob = ProbeJob;

export interface PciSeen {
  address: string;
  classCode: string;
  driver: string | null;
  iommuGroup: string | null;
}

export interface GuestResult {
  job: GuestJob;
  /** uname -r of the guest kernel. */
  kernel: string;
  /** Set when the agent itself failed: the stack, for the test's failure message. */
  error?: string;
  pci?: PciSeen[];
}
