package io.llavaserve.web.metrics;

import java.time.Duration;
import java.util.Arrays;

/** Histogram bucket bounds, vLLM's where it has them, extended down for small fast models. */
final class Buckets {

  private Buckets() {}

  /** Time to first token, seconds (vLLM's bounds). */
  static final double[] TTFT = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0
  };

  /** Inter-token latency, seconds (vLLM's bounds with 1 ms and 5 ms added below). */
  static final double[] INTER_TOKEN = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0
  };

  /** End-to-end latency and queue time, seconds (vLLM's bounds with 1 ms to 0.1 s added). */
  static final double[] REQUEST_SECONDS = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0
  };

  /** Token counts per request: 1, 2, 5, 10, 20, 50, ... up to 500,000, as vLLM's 1-2-5 series. */
  static final double[] TOKENS = oneTwoFive(500_000);

  static double[] oneTwoFive(long max) {
    double[] out = new double[64];
    int n = 0;
    for (long decade = 1; decade <= max; decade *= 10) {
      for (long m : new long[] {1, 2, 5}) {
        if (m * decade <= max) {
          out[n++] = m * decade;
        }
      }
    }
    return Arrays.copyOf(out, n);
  }

  static Duration[] durations(double[] seconds) {
    Duration[] out = new Duration[seconds.length];
    for (int i = 0; i < seconds.length; i++) {
      out[i] = Duration.ofNanos(Math.round(seconds[i] * 1e9));
    }
    return out;
  }
}
