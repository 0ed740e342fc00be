// Space on the data dir's filesystem as gauges, read at scrape time (statfs is one cheap system
// call), so "disk filling up" can be alerted on before writes start failing with NoSpace:
//   raftkv_disk_data_dir_free_bytes   bytes available to this process (statfs bavail × bsize)
//   raftkv_disk_data_dir_total_bytes  size of the filesystem
// A failing statfs (the dir vanished) leaves the previous values and never breaks a scrape.
import { statfsSync } from 'node:fs';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** Registers the two gauges on `registry` for `dataDir`. */
export function registerDiskMetrics(registry: Registry, dataDir: string): void {
  let last = { free: 0, total: 0 };
  const read = (): { free: number; total: number } => {
    try {
      const s = statfsSync(dataDir);
      last = { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    } catch {
      // keep the last reading
    }
    return last;
  };
  new Gauge({
    name: 'raftkv_disk_data_dir_free_bytes', help: 'Bytes available on the data dir filesystem.', registers: [registry],
    collect() {
      this.set(read().free);
    },
  });
  new Gauge({
    name: 'raftkv_disk_data_dir_total_bytes', help: 'Size of the data dir filesystem in bytes.', registers: [registry],
    collect() {
      this.set(read().total);
    },
  });
}
