// Free loopback ports for test processes and members.
import { createServer } from 'node:net';

/** Every port freePort returned in this process. */
const portsGiven = new Set<number>();

/** A port free on 127.0.0.1 right now (the OS picks it), never one returned before in this process. */
export async function freePort(): Promise<number> {
  // The kernel may hand a just-released port out again, and a cluster takes all its ports
  // before any member listens (two members once got the same client port): never return a
  // port this process was already given. Bounded: the ephemeral range holds thousands.
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await new Promise<number>((resolvePort, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolvePort(p));
      });
    });
    if (!portsGiven.has(port)) {
      portsGiven.add(port);
      return port;
    }
  }
  throw new Error('freePort: no port this process has not used yet after 100 tries');
}
