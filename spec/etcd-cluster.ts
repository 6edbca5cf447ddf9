/**
 * A real etcd cluster on loopback ports, in a temporary directory: the tests and the benchmark of the etcd catalog
 * run against it, never against a mock. Members are separate `etcd` processes that a test may
 * kill, restart, or make lose the leadership.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

interface Member {
  name: string;
  client: number;
  peer: number;
  proc?: ChildProcess;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * TLS for the client port: the members' certificate and key, the CA that signed them and that
 * client certificates must chain to, and the client certificate etcdctl uses.
 */
export interface ClusterTls {
  cert: string;
  key: string;
  ca: string;
  client: { cert: string; key: string };
}

/**
 * How long a new cluster may take to answer. A member fsyncs its WAL before it votes or acks, and
 * while the rest of the suite writes and fsyncs gigabytes beside it, one fsync can outlast an
 * election: the first leader may take several rounds, well past what an idle disk needs.
 */
export const CLUSTER_START_MS = 120_000;

/** A test hook that starts a cluster: the start, and time for the hook's other work. */
export const START_HOOK_MS = CLUSTER_START_MS + 60_000;

export class EtcdCluster {
  private constructor(
    readonly dir: string,
    readonly members: Member[],
    private readonly token: string,
    readonly tls?: ClusterTls,
  ) {}

  /** Starts `n` members and waits until the cluster answers a linearizable request. */
  static async start(dir: string, n = 3, tls?: ClusterTls): Promise<EtcdCluster> {
    if (spawnSync('etcd', ['--version']).status !== 0) throw new Error('etcd is not installed: the etcd catalog tests need Debian’s etcd-server (see .ci/run)');
    const members: Member[] = [];
    for (let i = 0; i < n; i++) members.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
    const c = new EtcdCluster(dir, members, `bootport-${process.pid}-${Date.now()}`, tls);
    for (let i = 0; i < n; i++) c.launch(i);
    await c.waitHealthy(CLUSTER_START_MS);
    return c;
  }

  get endpoints(): string {
    return this.members.map((m) => `127.0.0.1:${m.client}`).join(',');
  }

  /** The store URL for a catalog under `prefix` with its blobs in `blobs`. */
  url(prefix: string, blobs: string, extra = ''): string {
    return `${this.tls ? 'etcds' : 'etcd'}://${this.endpoints}/${prefix}?blobs=${blobs}${extra}`;
  }

  private get scheme(): string {
    return this.tls ? 'https' : 'http';
  }

  /** etcdctl's options for reaching the cluster (over TLS with the given client certificate). */
  ctlArgs(): string[] {
    const eps = this.members.filter((m) => m.proc).map((m) => `${this.scheme}://127.0.0.1:${m.client}`);
    const tls = this.tls ? [`--cacert=${this.tls.ca}`, `--cert=${this.tls.client.cert}`, `--key=${this.tls.client.key}`] : [];
    return [`--endpoints=${eps.join(',')}`, ...tls];
  }

  private launch(i: number): void {
    const m = this.members[i]!;
    const data = join(this.dir, m.name);
    mkdirSync(data, { recursive: true });
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peer}`).join(',');
    m.proc = spawn(
      'etcd',
      [
        `--name=${m.name}`,
        `--data-dir=${data}`,
        `--listen-client-urls=${this.scheme}://127.0.0.1:${m.client}`,
        `--advertise-client-urls=${this.scheme}://127.0.0.1:${m.client}`,
        ...(this.tls ? [`--cert-file=${this.tls.cert}`, `--key-file=${this.tls.key}`, `--trusted-ca-file=${this.tls.ca}`, '--client-cert-auth'] : []),
        `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-cluster=${cluster}`,
        `--initial-cluster-token=${this.token}`,
        '--initial-cluster-state=new',
        // Elections fast enough that a killed leader is replaced within a test's patience, and
        // slow enough that a WAL fsync stalled by the suite's other writers does not start one.
        '--heartbeat-interval=100',
        '--election-timeout=1000',
        '--logger=zap',
        '--log-level=error',
      ],
      { stdio: 'ignore' },
    );
  }

  /** SIGKILLs member `i`. */
  kill(i: number): void {
    const m = this.members[i]!;
    m.proc?.kill('SIGKILL');
    m.proc = undefined;
  }

  /** Starts member `i` again on its data. */
  restart(i: number): void {
    if (!this.members[i]!.proc) this.launch(i);
  }

  /** The index of the current leader, from the members' own status. */
  leader(): number {
    const r = spawnSync('etcdctl', [...this.ctlArgs(), 'endpoint', 'status', '--write-out=json'], { encoding: 'utf8', timeout: 10_000 });
    const rows = JSON.parse(r.stdout || '[]') as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
    const lead = rows.find((x) => x.Status.header.member_id === x.Status.leader);
    if (!lead) throw new Error(`no leader: ${r.stderr}`);
    return this.members.findIndex((m) => lead.Endpoint.endsWith(`:${m.client}`));
  }

  /** Waits until a linearizable request through every live member's endpoint succeeds. */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = spawnSync('etcdctl', [...this.ctlArgs(), 'endpoint', 'health'], { encoding: 'utf8', timeout: 10_000 });
      if (r.status === 0) return;
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy: ${r.stdout}${r.stderr}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** etcdctl against the cluster, for what a test checks outside bootport. */
  ctl(...args: string[]): string {
    const r = spawnSync('etcdctl', [...this.ctlArgs(), ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  stop(): void {
    for (let i = 0; i < this.members.length; i++) this.kill(i);
  }
}
