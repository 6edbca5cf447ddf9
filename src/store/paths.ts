import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * `--store DIR`, else BOOTPORT_STORE, else /var/lib/bootport for root (a head node's service
 * data), else the XDG data directory, so an ordinary user can try bootport without privileges.
 */
export function defaultStoreDir(env: NodeJS.ProcessEnv, cwd: string, explicit?: string): string {
  if (explicit) return resolve(cwd, explicit);
  if (env.BOOTPORT_STORE) return resolve(cwd, env.BOOTPORT_STORE);
  if (process.getuid?.() === 0) return '/var/lib/bootport';
  const xdg = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/') ? env.XDG_DATA_HOME : join(env.HOME ?? homedir(), '.local', 'share');
  return join(xdg, 'bootport');
}
