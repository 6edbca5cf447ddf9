import type { CommandContext } from './context.js';
import { CHUNK_HEADER_SIZE } from '../format/constants.js';
import { humanBytes } from './text.js';

/** How progress is shown: a line redrawn on a terminal, line-delimited JSON events, or nothing. */
export type ProgressMode = 'bar' | 'json' | 'off';

/**
 * `--progress` forces the line, `--progress=json` gives events for scripts, `--no-progress`
 * silences it; otherwise the line shows when stderr is a terminal and the output is not JSON.
 */
export function progressMode(ctx: CommandContext, opt: string | boolean | undefined, json: boolean): ProgressMode {
  if (opt === false) return 'off';
  if (opt === 'json') return 'json';
  if (opt === true) return 'bar';
  return !json && (ctx.io.stderr as { isTTY?: boolean }).isTTY === true ? 'bar' : 'off';
}

/** The line is redrawn this often at most, and JSON events are this far apart. */
const BAR_EVERY_MS = 200;
const JSON_EVERY_MS = 1000;

/**
 * Progress of one long command on stderr: bytes done of the total (when known), speed, the
 * compression ratio so far, and the time left. Its cost is a comparison per chunk between draws.
 */
export class Progress {
  private done = 0;
  private raw = 0;
  private comp = 0;
  private readonly t0 = Date.now();
  private last = 0;
  private drawn = false;

  constructor(
    private readonly ctx: CommandContext,
    private readonly mode: ProgressMode,
    private command: string,
    /** What `advance` counts toward, when known. */
    private total?: number,
  ) {}

  /** What the line says is being done: the volume being read or written changes it. */
  relabel(command: string): void {
    this.command = command;
    // Drawn at once, not at the next tick: a new volume is news, and comes rarely.
    if (this.mode === 'off') return;
    this.last = Date.now();
    this.emit('progress');
  }

  setTotal(total: number | undefined): void {
    this.total = total;
  }

  /** `bytes` more done, of which `raw` uncompressed and `comp` compressed, for the ratio. */
  advance(bytes: number, raw = 0, comp = 0): void {
    if (this.mode === 'off') return;
    this.done += bytes;
    this.raw += raw;
    this.comp += comp;
    const t = Date.now();
    if (t - this.last < (this.mode === 'bar' ? BAR_EVERY_MS : JSON_EVERY_MS)) return;
    this.last = t;
    this.emit('progress');
  }

  /** A chunk record read from a bundle: its header and frame count toward the bytes read. */
  chunkRead(raw: number, comp: number): void {
    this.advance(comp + CHUNK_HEADER_SIZE, raw, comp);
  }

  /** The final state: the line ends, or a `done` event is written. */
  finish(): void {
    if (this.mode === 'off') return;
    // What was counted leaves out a few bytes (headers, the trailer): done is all of it.
    if (this.total !== undefined) this.done = this.total;
    this.emit('done');
  }

  private emit(event: 'progress' | 'done'): void {
    const seconds = Math.max((Date.now() - this.t0) / 1000, 1e-3);
    const rate = this.done / seconds;
    const ratio = this.comp > 0 ? this.raw / this.comp : undefined;
    const eta = this.total !== undefined && rate > 0 && event === 'progress' ? Math.max(0, (this.total - this.done) / rate) : undefined;
    if (this.mode === 'json') {
      const e = {
        event,
        command: this.command,
        done: this.done,
        ...(this.total !== undefined ? { total: this.total } : {}),
        bytes_per_second: Math.round(rate),
        ...(ratio !== undefined ? { ratio: Math.round(ratio * 100) / 100 } : {}),
        ...(eta !== undefined ? { eta_seconds: Math.round(eta) } : {}),
      };
      this.ctx.io.stderr.write(`${JSON.stringify(e)}\n`);
      return;
    }
    const parts = [
      `${this.command}`,
      this.total !== undefined ? `${humanBytes(this.done)} of ${humanBytes(this.total)}` : humanBytes(this.done),
      ...(this.total ? [`${Math.min(100, Math.floor((this.done / this.total) * 100))}%`] : []),
      `${(rate / 1e6).toFixed(rate >= 1e8 ? 0 : 1)} MB/s`,
      ...(ratio !== undefined ? [`ratio ${ratio.toFixed(2)}x`] : []),
      ...(eta !== undefined ? [`ETA ${clock(eta)}`] : []),
    ];
    // Erase to the end of the line: a shorter line must not leave the tail of a longer one.
    this.ctx.io.stderr.write(`\r${parts.join('  ')}\u001b[K${event === 'done' ? '\n' : ''}`);
    this.drawn = event !== 'done';
  }

  /** Ends a drawn line before other text goes to stderr, so the two do not share a line. */
  interrupt(): void {
    if (this.drawn) this.ctx.io.stderr.write('\n');
    this.drawn = false;
  }
}

function clock(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
