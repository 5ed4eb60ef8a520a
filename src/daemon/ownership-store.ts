// Who holds which GPU, persisted so that a restarted daemon (or one recovering from a crash) knows
// which VM a GPU on vfio-pci belongs to. One small JSON file, replaced atomically on every change.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../engine/atomic-file';

export interface Ownership {
  /** VM name, or "" when detached by hand with no VM. */
  vm: string;
  /** Detached by hand: stays on vfio-pci when a VM using it stops. */
  manual: boolean;
}

export class OwnershipStore {
  private readonly file: string;
  private readonly data: Map<string, Ownership>;
  /** Saves run one after another so the file always ends with the latest state. */
  private saving: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'owners.json');
    this.data = new Map(Object.entries(readJson(this.file)));
  }

  get(address: string): Ownership | undefined {
    return this.data.get(address);
  }

  /** Changes memory at once (claims are decided synchronously) and resolves once the file is on disk. */
  set(address: string, ownership: Ownership): Promise<void> {
    this.data.set(address, ownership);
    return this.save();
  }

  delete(address: string): Promise<void> {
    return this.data.delete(address) ? this.save() : this.saving;
  }

  heldBy(vm: string): string[] {
    return [...this.data].filter(([, o]) => o.vm === vm).map(([a]) => a).sort();
  }

  entries(): [string, Ownership][] {
    return [...this.data];
  }

  private save(): Promise<void> {
    const text = JSON.stringify(Object.fromEntries(this.data), null, 1) + '\n';
    this.saving = this.saving.then(async () => {
      await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
      await writeFileAtomic(this.file, text);
    });
    return this.saving;
  }
}

function readJson(file: string): Record<string, Ownership> {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, Ownership>;
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}
