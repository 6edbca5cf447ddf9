/**
 * `npm run bench -- --only-catalog`: catalog operations per second and import commit latency, on
 * a three-member etcd cluster on loopback against the embedded SQLite store, in one run. Each is
 * the library called in process, so the figures are the catalog's, not Node's start-up.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdCluster } from '../spec/etcd-cluster.js';
import { median, version } from './measure.js';

type Lib = typeof import('../src/index.js');

export interface CatalogRow {
  op: string;
  sqlite: number;
  etcd: number;
  unit: 'ops/s' | 'ms';
}

/** Runs `fn` `n` times, `runs` times over, and gives the median of the runs' ops per second. */
async function opsPerSecond(runs: number, n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const rates: number[] = [];
  let k = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn(k++);
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

export async function catalogBench(lib: Lib, out: string, runs: number, log: (s: string) => void): Promise<{ rows: CatalogRow[]; notes: string[] }> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const cluster = await EtcdCluster.start(join(out, 'etcd'));
  const engines = await lib.loadEngines('auto');
  const files = join(out, 'files');
  mkdirSync(files);
  try {
    const open = async (which: 'sqlite' | 'etcd') =>
      lib.Store.open(
        which === 'sqlite' ? { kind: 'sqlite', dir: join(out, 'sqlite') } : lib.parseEtcdUrl(cluster.url('bench', join(out, 'etcd-blobs')), {}, out),
        'write',
      );
    const results: Record<'sqlite' | 'etcd', Record<string, number>> = { sqlite: {}, etcd: {} };
    for (const which of ['sqlite', 'etcd'] as const) {
      log(`catalog: ${which}`);
      const store = await open(which);
      try {
        const N = 200;
        const r = results[which];
        r.create = await opsPerSecond(runs, N, (i) => lib.createNodes(store, [`n${which}${i}`]));
        const nodes = await store.read((tx) => lib.resolveMany(tx, 'nodes', { all: true }));
        r.set = await opsPerSecond(runs, N, (i) => lib.setNodeAttributes(store, [nodes[i % nodes.length]!], { rack: String(i) }));
        r.list = await opsPerSecond(runs, 50, () => lib.listNodes(store, {}));
        r.get = await opsPerSecond(runs, N, (i) => store.read((tx) => lib.resolveOne(tx, 'nodes', nodes[i % nodes.length]!.name)));
        // Import commit: blobs already staged, so what is timed is the decision, the placing
        // and the transaction, as an import's last step.
        const lat: number[] = [];
        for (let i = 0; i < 20 * runs; i++) {
          const k = join(files, `k-${which}-${i}`);
          const rd = join(files, `i-${which}-${i}`);
          writeFileSync(k, `kernel ${which} ${i}`);
          writeFileSync(rd, `initramfs ${which} ${i}`);
          const kernel = { ...(await store.stageFile(k, engines)), fileName: 'vmlinuz' };
          const initramfs = { ...(await store.stageFile(rd, engines)), fileName: 'initramfs.img' };
          const t0 = performance.now();
          await lib.createBootConfig(store, { name: `bc-${i}`, kernel, initramfs });
          lat.push(performance.now() - t0);
        }
        r.commit = median(lat);
        r.commitP95 = [...lat].sort((a, b) => a - b)[Math.floor(lat.length * 0.95)]!;
      } finally {
        await store.close();
      }
    }
    const row = (op: string, key: string, unit: CatalogRow['unit']): CatalogRow => ({ op, sqlite: results.sqlite[key]!, etcd: results.etcd[key]!, unit });
    return {
      rows: [
        row('node create (one node)', 'create', 'ops/s'),
        row('node set (one node)', 'set', 'ops/s'),
        row(`node ls (${200 * runs} nodes)`, 'list', 'ops/s'),
        row('resolve one node by name', 'get', 'ops/s'),
        row('import commit, median', 'commit', 'ms'),
        row('import commit, 95th percentile', 'commitP95', 'ms'),
      ],
      notes: [
        `etcd: ${cluster.members.length} members of ${version('etcd --version')} on loopback, each its own process on this machine, fsyncing its WAL as in production; SQLite: WAL mode, synchronous=FULL.`,
        `Timed in process with performance.now(), not /usr/bin/time: each ops/s figure is the median of ${runs} runs of 200 operations (50 for node ls), one after another from one client; the commit latency is the median and 95th percentile of ${20 * runs} boot config commits with their blobs already staged (pin, place, fsync, transaction).`,
        'Every etcd write is a linearizable snapshot check (one round trip; the whole catalog is read again only when another writer moved it) and one transaction through the Raft quorum.',
      ],
    };
  } finally {
    cluster.stop();
  }
}

export function catalogTable(rows: CatalogRow[]): string {
  const lines = ['| operation | SQLite | etcd (3 members) | etcd / SQLite |', '|---|---|---|---|'];
  for (const r of rows) {
    const f = (v: number) => (r.unit === 'ms' ? `${v.toFixed(1)} ms` : `${v.toFixed(0)} ops/s`);
    lines.push(`| ${r.op} | ${f(r.sqlite)} | ${f(r.etcd)} | ${(r.etcd / r.sqlite).toFixed(2)}× |`);
  }
  return lines.join('\n');
}
