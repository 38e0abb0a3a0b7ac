/**
 * Live progress of a bench run on stderr (stdout is for the report): a cli-progress bar with messages,
 * rate and ETA on a terminal, and one plain line every few seconds otherwise (CI logs, pipes).
 */
import cliProgress from 'cli-progress';

/** What the bench reports while running. */
export interface BenchProgress {
  /** Messages completed so far (acknowledged or received). */
  readonly done: number;
  /** Messages handed to clients so far. */
  readonly sent: number;
  /** Messages expected in total; undefined when the run is bounded by time only. */
  readonly total: number | undefined;
  readonly connected: number;
  readonly elapsedMs: number;
}

/** Something that shows progress. */
export interface ProgressDisplay {
  update(progress: BenchProgress): void;
  /** Ends the display (the bar's last state stays on screen). */
  stop(): void;
}

/** Messages per second since the start. */
function rate(progress: BenchProgress): number {
  return progress.elapsedMs > 0 ? (progress.done * 1000) / progress.elapsedMs : 0;
}

/** One line per `everyMs` to `stream`: for output that is not a terminal. */
export class LineProgress implements ProgressDisplay {
  #lastAt = Number.NEGATIVE_INFINITY;
  #last: BenchProgress | undefined;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly everyMs = 5000,
  ) {}

  update(progress: BenchProgress): void {
    this.#last = progress;
    if (progress.elapsedMs - this.#lastAt < this.everyMs) return;
    this.#lastAt = progress.elapsedMs;
    this.#write(progress);
  }

  stop(): void {
    if (this.#last !== undefined && this.#last.elapsedMs !== this.#lastAt) this.#write(this.#last);
  }

  #write(progress: BenchProgress): void {
    const of = progress.total === undefined ? '' : `/${progress.total}`;
    this.stream.write(
      `[${(progress.elapsedMs / 1000).toFixed(1)} s] ${progress.done}${of} messages, ` +
        `${Math.round(rate(progress))} msg/s, ${progress.connected} clients connected\n`,
    );
  }
}

/** A cli-progress bar: for a terminal. */
export class BarProgress implements ProgressDisplay {
  readonly #bar: cliProgress.SingleBar;
  #started = false;

  constructor(stream: NodeJS.WritableStream) {
    this.#bar = new cliProgress.SingleBar(
      {
        stream,
        format:
          ' {bar} {percentage}% | {value}/{total} msgs | {rate} msg/s | {connected} clients | ETA {eta_formatted}',
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(progress: BenchProgress): void {
    // A run bounded by time has no total; the bar then shows what was done against itself.
    const total = progress.total ?? Math.max(progress.done, 1);
    const payload = { rate: Math.round(rate(progress)), connected: progress.connected };
    if (!this.#started) {
      this.#bar.start(total, progress.done, payload);
      this.#started = true;
      return;
    }
    this.#bar.setTotal(total);
    this.#bar.update(progress.done, payload);
  }

  stop(): void {
    if (this.#started) this.#bar.stop();
  }
}

/** The display that suits `stream`: a bar on a TTY, periodic lines otherwise. */
export function progressFor(stream: NodeJS.WriteStream): ProgressDisplay {
  return stream.isTTY ? new BarProgress(stream) : new LineProgress(stream);
}
