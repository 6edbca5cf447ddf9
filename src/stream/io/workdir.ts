import { chmodSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { modesUnsupported } from './io-error.js';
import { nodeCrypto } from './node-crypto.js';

/**
 * Private working directories that a living process proves it still owns.
 *
 * A PID says nothing across PID namespaces (containers, `unshare --pid`) or hosts sharing a file
 * system, so ownership is proved by a kernel file lock that the owner holds and the kernel drops
 * when it dies. Node has no flock(); SQLite's EXCLUSIVE transaction takes POSIX fcntl locks on its
 * database file, which hold across PID namespaces and, through the NFS lock manager, across hosts.
 * So each work directory holds a tiny SQLite file, `lock`, locked by its owner for its whole life.
 *
 * A sweeper judges a directory by trying its lock. Held: the owner lives. Free, or no lock file
 * yet: the owner is dead (or has not locked it yet), and the sweeper removes the directory while
 * it holds the lock itself, so an owner that was about to lock it finds it busy, or gone, and
 * simply starts over elsewhere. No directory is ever removed under a living owner.
 */

export const LOCK_FILE = 'lock';
export const OWNER_FILE = 'owner.json';

export interface WorkDirOwner {
  pid: number;
  host: string;
  command: string;
  started: string;
  /** False where the file system refused locks: such a directory is never judged dead. */
  locked: boolean;
}

/**
 * better-sqlite3, loaded on first use (commands without a store start faster). URI file names
 * are enabled first: a catalog on read-only media is opened with `immutable=1`. Node's setenv is
 * what the addon's one-time configuration reads.
 */
export function loadSqlite(): typeof Database {
  process.env.SQLITE_USE_URI ??= '1';
  return createRequire(import.meta.url)('better-sqlite3') as typeof Database;
}

/** Takes the lock on `path` (creating the file), or says why not. */
function takeLock(path: string, create = true): Database.Database | 'busy' | 'missing' | 'unsupported' {
  let db: Database.Database | undefined;
  try {
    db = new (loadSqlite())(path, { fileMustExist: !create });
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (e) {
    db?.close();
    const code = (e as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY') return 'busy';
    if (code === 'SQLITE_CANTOPEN') return 'missing';
    return 'unsupported';
  }
}

// ---- removal on signals ----------------------------------------------------------------------

/** Paths to remove on a signal, and whether with everything in them (else only if empty). */
const registered = new Map<string, boolean>();

/**
 * Paths this process must remove if a signal ends it (Ctrl-C, SIGTERM, SIGHUP). The CLI's signal
 * handler calls `removeRegisteredSync`; a SIGKILL cannot be caught, and what it leaves is found
 * dead by the lock protocol above and removed by the next run. With `onlyIfEmpty`, a directory
 * is removed only if nothing else was put in it (a directory this process created for output).
 */
export function removeOnSignal(path: string, onlyIfEmpty = false): () => void {
  registered.set(path, !onlyIfEmpty);
  return () => void registered.delete(path);
}

/** Removes what was registered, the last registered first (a work directory before its parent). */
export function removeRegisteredSync(): void {
  for (const [p, recursive] of [...registered].reverse()) {
    try {
      if (recursive) rmSync(p, { recursive: true, force: true });
      else rmdirSync(p);
    } catch {
      // Not empty, or already gone: left as it is.
    }
  }
  registered.clear();
}

// ---- work directories ------------------------------------------------------------------------

export class WorkDir {
  private lockDb: Database.Database | undefined;
  private unregister: () => void;
  private removed = false;

  private constructor(
    readonly path: string,
    lockDb: Database.Database | undefined,
  ) {
    this.lockDb = lockDb;
    this.unregister = removeOnSignal(path);
  }

  /**
   * Creates `parent/<prefix><random>/`, mode 0700, locked by this process. `command` is recorded
   * so that whoever finds the directory can say whose it is.
   */
  static create(parent: string, prefix: string, command: string): WorkDir {
    for (let attempt = 0; ; attempt++) {
      const path = join(parent, `${prefix}${nodeCrypto().randomBytes(8).toString('hex')}`);
      mkdirSync(path, { mode: 0o700 });
      try {
        // Whatever the umask: what is staged here may be a root file system's secrets.
        try {
          chmodSync(path, 0o700);
        } catch (e) {
          // A file system without modes (a FAT stick) has no others to hide from, bar mount options.
          if (!modesUnsupported(e)) throw e;
        }
        const lock = takeLock(join(path, LOCK_FILE));
        // Busy or gone: a sweeper judged the fresh directory before it was locked. Start over.
        if (lock === 'busy' || lock === 'missing') throw Object.assign(new Error('lost a race with a sweeper'), { code: 'ENOENT' });
        const dir = new WorkDir(path, lock === 'unsupported' ? undefined : lock);
        const owner: WorkDirOwner = { pid: process.pid, host: hostname(), command, started: new Date().toISOString(), locked: lock !== 'unsupported' };
        try {
          writeFileSync(join(path, OWNER_FILE), JSON.stringify(owner) + '\n', { mode: 0o600, flag: 'wx' });
        } catch (e) {
          dir.removeSync();
          throw e;
        }
        return dir;
      } catch (e) {
        removeBestEffort(path);
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
      }
    }
  }

  /** Removes the directory and everything in it, then releases the lock. Idempotent. */
  removeSync(): void {
    if (this.removed) return;
    this.removed = true;
    removeHolding(this.path, this.lockDb);
    this.lockDb = undefined;
    this.unregister();
  }
}

export interface SweepResult {
  /** Directories of dead owners, removed (or, with `dryRun`, that would be). */
  dead: string[];
  /** Owners still alive. */
  live: (WorkDirOwner & { path: string })[];
}

/**
 * Finds the work directories `parent/<prefix>*` and removes those whose owner is dead. A directory
 * whose lock state cannot be known (a file system without locks) is left alone.
 */
export function sweepWorkDirs(parent: string, prefix: string, opts: { dryRun?: boolean; skip?: string } = {}): SweepResult {
  const out: SweepResult = { dead: [], live: [] };
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const path = join(parent, name);
    if (path === opts.skip) continue;
    const owner = readOwner(path);
    if (owner && !owner.locked) {
      out.live.push({ ...owner, path });
      continue;
    }
    // Creating the lock file if it is not there yet closes the last race: an owner between its
    // mkdir and its lock then finds the lock busy and starts over. A dry run only looks.
    const lock = takeLock(join(path, LOCK_FILE), !opts.dryRun);
    if (lock === 'busy') {
      out.live.push({ ...(owner ?? { pid: 0, host: '?', command: 'a process still setting up', started: '?', locked: true }), path });
      continue;
    }
    if (lock === 'unsupported') continue;
    // Dead, or never locked: removed while this process holds the lock, so nobody can take it
    // meanwhile. An owner that was still setting it up may be writing into it as it goes; what is
    // left then is judged again by the next sweep.
    out.dead.push(path);
    const held = lock === 'missing' ? undefined : lock;
    if (opts.dryRun) held?.close();
    else removeHolding(path, held);
  }
  return out;
}

/**
 * Removes a work directory whose lock `held` is open: everything but the lock's own files first,
 * while the lock keeps others out, then the lock is closed, and only then are its files unlinked.
 * A file unlinked while open is kept by FUSE file systems (a FAT stick) as `.fuse_hidden*` until
 * its close is processed, which can come after the directory's removal and make it fail.
 * Best-effort: a sweeper that finds the lock file gone may create one in here meanwhile; what it
 * leaves has no owner and a free lock, and the next sweep removes it.
 */
function removeHolding(path: string, held: Database.Database | undefined): void {
  let names: string[] = [];
  try {
    names = readdirSync(path);
  } catch {
    // Gone already, or unreadable: the removal below says which.
  }
  for (const name of names) {
    if (held && name.startsWith(LOCK_FILE)) continue;
    try {
      rmSync(join(path, name), { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // Left for the removal below, or the next sweep.
    }
  }
  held?.close();
  removeBestEffort(path);
}

/** Removes a directory tree if it can; a concurrent writer's ENOTEMPTY leaves it for next time. */
function removeBestEffort(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    // Left for the next sweep to judge again.
  }
}

function readOwner(dir: string): WorkDirOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as WorkDirOwner;
    return typeof o.pid === 'number' ? o : undefined;
  } catch {
    return undefined;
  }
}

/** "bootport import (pid 12, host headA, since …)": how an admin is told who holds something. */
export function describeOwner(o: WorkDirOwner): string {
  return `${o.command} (pid ${o.pid} on ${o.host}, since ${o.started})`;
}
