// The guest agent: runs inside the lab guest on the real kernel, with the project's own code, does
// what the job asks and writes the result as JSON to the output share. Usage: agent.js JOB RESULT

import * as fs from 'node:fs';
import * as os from 'node:os';
import { HostIO, SysfsHostIO } from '../../../src/host/host-io';
import { GuestJob, GuestResult, PciSeen } from '../lab-job';

async function main(): Promise<void> {
  const [jobFile, resultFile] = process.argv.slice(2);
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8')) as GuestJob;
  const result: GuestResult = { job, kernel: os.release() };
  try {
    const io = new SysfsHostIO('/');
    result.pci = listPci(io);
  } catch (e) {
    result.error = e instanceof Error ? (e.stack ?? e.message) : String(e);
  }
  fs.writeFileSync(resultFile, JSON.stringify(result, null, 1));
}

function listPci(io: HostIO): PciSeen[] {
  return io.list('sys/bus/pci/devices').map((address) => {
    const dev = `sys/bus/pci/devices/${address}`;
    return {
      address,
      classCode: (io.readText(`${dev}/class`) ?? '').replace(/^0x/, ''),
      driver: io.readLinkName(`${dev}/driver`) ?? null,
      iommuGroup: io.readLinkName(`${dev}/iommu_group`) ?? null,
    };
  });
}

void main();
