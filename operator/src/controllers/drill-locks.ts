// One drill per cluster, and no cluster change while it runs: an in-process lock shared by the
// RaftChaosDrill controller (which takes it) and the RaftCluster controller (which plans no
// change while it is held). In-process suffices: only the lease holder runs either controller,
// and a drill found Running by a new leader is failed, never resumed.

/** Cluster key (`namespace/name`) → the drill (`namespace/name`) holding it. */
export class DrillLocks {
  private readonly held = new Map<string, string>();

  /** Takes the lock of `cluster` for `drill`; true when it got it (or already held it). */
  acquire(cluster: string, drill: string): boolean {
    const h = this.held.get(cluster);
    if (h !== undefined && h !== drill) return false;
    this.held.set(cluster, drill);
    return true;
  }

  /** Releases it if `drill` holds it. */
  release(cluster: string, drill: string): void {
    if (this.held.get(cluster) === drill) this.held.delete(cluster);
  }

  /** The drill holding `cluster`, if any. */
  holder(cluster: string): string | undefined {
    return this.held.get(cluster);
  }
}
