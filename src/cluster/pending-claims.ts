/** The longest an inbox entry waits for a claim's result to be taken. */
const CLAIM_SETTLE_LIMIT_MS = 10_000;

/**
 * The claims of one client id in flight: `settled` resolves when the broker took the result of each (or
 * after CLAIM_SETTLE_LIMIT_MS, so an inbox waiting on it cannot wait for ever).
 */
export class PendingClaims {
  readonly settled: Promise<void>;
  private count = 0;
  private finished = false;
  private resolve: () => void = () => {};
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly gone: (done: PendingClaims) => void) {
    this.settled = new Promise((resolve) => {
      this.resolve = resolve;
    });
    this.timer = setTimeout(() => this.finish(), CLAIM_SETTLE_LIMIT_MS);
    this.timer.unref();
  }

  add(): void {
    this.count++;
  }

  settle(): void {
    if (--this.count <= 0) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.gone(this);
    this.resolve();
  }
}
