// Flush windows under overload. Each stored change set costs an append (encode, a JetStream
// write, the gateways' fan-out); coalescing a user's changes over a longer window turns many
// sets into one. The controller keeps the rate of stored sets near a budget: above it, windows
// double (up to the maximum window); well below it (a quarter), they halve back towards the
// nominal quiet period and maximum delay. So the budget, not the event rate, sets the cost,
// and at nominal load nothing changes.

export interface WindowController {
  /** The current multiplier of the quiet period and maximum delay (≥ 1). */
  scale(): number;
  /** One change set stored. */
  recordFlush(): void;
  /** Re-evaluates the scale from the sets stored since the previous call; call every second. */
  adjust(): number;
}

export interface WindowOptions {
  /** Stored change sets per second this worker aims not to exceed. */
  budgetPerSecond: number;
  /** Largest multiplier (maximum window ÷ maximum delay). */
  maxScale: number;
  now: () => number;
}

export function createWindowController(options: WindowOptions): WindowController {
  let scale = 1;
  let count = 0;
  let since = options.now();
  return {
    scale: () => scale,
    recordFlush: () => {
      count++;
    },
    adjust() {
      const now = options.now();
      const seconds = (now - since) / 1000;
      if (seconds <= 0) return scale;
      const rate = count / seconds;
      count = 0;
      since = now;
      if (rate > options.budgetPerSecond) scale = Math.min(options.maxScale, scale * 2);
      else if (rate < options.budgetPerSecond / 4) scale = Math.max(1, scale / 2);
      return scale;
    },
  };
}
