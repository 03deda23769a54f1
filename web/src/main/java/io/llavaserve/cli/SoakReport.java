package io.llavaserve.cli;

import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * What a soak run prints: a row per interval as the load runs, each with the server's figures read
 * from {@code /metrics} at that moment; then, once the load has drained, the KV blocks still in
 * use, the RSS growth over the second half of the run, the totals and the verdict. The server is
 * also sampled every few seconds in between, so the half-time RSS is read near half time.
 */
final class SoakReport {

  static final String HEADER_1 =
      "          |                  |  TTFT ms        |  ITL ms         |  errors                       |"
          + "                   |  server";
  static final String HEADER_2 =
      "    time  |    done    tok/s |     p50     p99 |     p50     p99 |  http   tmo  conn stream mism |"
          + " cancel  disc jobs |  RSS MB heap MB threads KV used";

  /** A server sample and when it was taken, in seconds since the load started. */
  private record Timed(double sec, ServerSample sample) {}

  private final PrintWriter out;
  private final HttpClient http;
  private final URI base;
  private final Duration duration;
  private final Duration interval;
  private final List<Timed> samples = new ArrayList<>();
  private final ScheduledExecutorService sampler =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "soak-metrics");
            t.setDaemon(true);
            return t;
          });
  private long startNanos;

  SoakReport(PrintWriter out, HttpClient http, URI base, Duration duration, Duration interval) {
    this.out = out;
    this.http = http;
    this.base = base;
    this.duration = duration;
    this.interval = interval;
  }

  /** The load starts now: the clock and the sampling of the server begin. */
  void start() {
    startNanos = System.nanoTime();
    long every = Math.max(100, Math.min(interval.toMillis(), 5_000));
    sampler.scheduleAtFixedRate(this::sample, every, every, TimeUnit.MILLISECONDS);
  }

  /** Prints the header and a row at the end of each interval until the duration is over. */
  void rows(SoakStats stats) throws InterruptedException {
    out.println(HEADER_1);
    out.println(HEADER_2);
    out.flush();
    long end = startNanos + duration.toNanos();
    long next = startNanos + interval.toNanos();
    while (true) {
      long at = Math.min(next, end);
      long wait = at - System.nanoTime();
      if (wait > 0) {
        TimeUnit.NANOSECONDS.sleep(wait);
      }
      out.println(row(stats.roll(seconds()), sample()));
      out.flush();
      if (at >= end) {
        return;
      }
      next += interval.toNanos();
    }
  }

  /**
   * After the load: waits (until {@code drainEndNanos}) for the server to go idle, prints the
   * drain, the totals and the verdict; true on PASS.
   */
  boolean verdict(SoakStats stats, int hung, long drainEndNanos) throws InterruptedException {
    double loadEnd = duration.toNanos() / 1e9;
    long drainStart = System.nanoTime();
    ServerSample last = ServerSample.scrape(http, base);
    while (!last.idle() && System.nanoTime() < drainEndNanos) {
      Thread.sleep(200);
      last = ServerSample.scrape(http, base);
    }
    sampler.shutdownNow();
    double drainSec = (System.nanoTime() - drainStart) / 1e9;
    SoakStats.Totals t = stats.totals();
    List<String> failures = new ArrayList<>();

    out.println();
    if (Double.isNaN(last.kvBlocksUsed())) {
      out.println("KV blocks in use after the load: unknown (no llava:kv_blocks_used on /metrics)");
    } else {
      out.printf(
          "KV blocks in use after the load: %.0f (%s after %.1f s; blocks the prefix cache keeps"
              + " free are not in use)%n",
          last.kvBlocksUsed(), last.idle() ? "idle" : "still busy", drainSec);
      if (last.kvBlocksUsed() > 0) {
        failures.add(String.format("%.0f KV blocks leaked", last.kvBlocksUsed()));
      } else if (!last.idle()) {
        failures.add("requests still in flight after the drain");
      }
    }
    out.println(rssLine(loadEnd));
    out.printf(
        "totals: %d requests completed, %d output tokens (%.1f tok/s), %d batch jobs;"
            + " TTFT p50 %.1f p99 %.1f ms; ITL p50 %.1f p99 %.1f ms%n",
        t.completed(),
        t.tokens(),
        t.tokens() / loadEnd,
        t.batchJobs(),
        t.ttftP50(),
        t.ttftP99(),
        t.itlP50(),
        t.itlP99());
    long mismatches = t.errors().get(SoakStats.ErrorKind.MISMATCH);
    out.printf(
        "checks: %d greedy answers compared with their reference, %d mismatched%n",
        t.checks(), mismatches);
    out.printf(
        "cuts: %d cancelled, %d disconnected by the client (not errors)%n",
        t.cancelled(), t.disconnected());
    out.printf("errors: %d%n", t.errorCount());
    for (Map.Entry<String, Long> e : t.details().entrySet()) {
      String example = t.examples().get(e.getKey());
      out.printf(
          "  %-40s %6d%s%n", e.getKey(), e.getValue(), example == null ? "" : "  e.g. " + example);
    }
    if (mismatches > 0) {
      failures.add(mismatches + " mismatched answers");
    }
    if (t.errorCount() > mismatches) {
      failures.add((t.errorCount() - mismatches) + " errors");
    }
    if (hung > 0) {
      failures.add(hung + " clients still waiting when the drain ended");
    }
    if (t.completed() == 0) {
      failures.add("no request completed");
    }
    out.println(
        failures.isEmpty()
            ? "verdict: PASS"
            : "verdict: FAIL (" + String.join(", ", failures) + ")");
    out.flush();
    return failures.isEmpty();
  }

  private String rssLine(double loadEnd) {
    Timed half = null;
    Timed end = null;
    synchronized (samples) {
      for (Timed s : samples) {
        if (Double.isNaN(s.sample().rssBytes()) || s.sec() > loadEnd + 0.5) {
          continue;
        }
        if (half == null && s.sec() >= loadEnd / 2) {
          half = s;
        }
        end = s;
      }
    }
    if (half == null || end == null) {
      return "RSS growth over the second half: unknown (no process_resident_memory_bytes)";
    }
    return String.format(
        "RSS growth over the second half: %+.1f%% (%.0f MB at %.0f s, %.0f MB at %.0f s)",
        rssGrowthPercent(half.sample().rssBytes(), end.sample().rssBytes()),
        half.sample().rssBytes() / 1e6,
        half.sec(),
        end.sample().rssBytes() / 1e6,
        end.sec());
  }

  static double rssGrowthPercent(double atHalf, double atEnd) {
    return 100 * (atEnd - atHalf) / atHalf;
  }

  /** A table row. */
  static String row(SoakStats.Row r, ServerSample s) {
    Map<SoakStats.ErrorKind, Long> e = r.errors();
    return String.format(
        "%8s  | %7d %8.1f | %7.1f %7.1f | %7.1f %7.1f | %5d %5d %5d %6d %4d | %6d %5d %4d |"
            + " %7s %7s %7s %7s",
        clock(r.endSec()),
        r.completed(),
        r.tokensPerSec(),
        r.ttftP50(),
        r.ttftP99(),
        r.itlP50(),
        r.itlP99(),
        e.get(SoakStats.ErrorKind.HTTP),
        e.get(SoakStats.ErrorKind.TIMEOUT),
        e.get(SoakStats.ErrorKind.CONNECTION),
        e.get(SoakStats.ErrorKind.STREAM),
        e.get(SoakStats.ErrorKind.MISMATCH),
        r.cancelled(),
        r.disconnected(),
        r.batchJobs(),
        figure(s.rssBytes() / 1e6),
        figure(s.heapUsedBytes() / 1e6),
        figure(s.liveThreads()),
        figure(s.kvBlocksUsed()));
  }

  /** {@code m:ss}, or {@code h:mm:ss} past an hour. */
  static String clock(double sec) {
    long s = Math.round(sec);
    return s >= 3600
        ? String.format("%d:%02d:%02d", s / 3600, s % 3600 / 60, s % 60)
        : String.format("%d:%02d", s / 60, s % 60);
  }

  private static String figure(double v) {
    return Double.isNaN(v) ? "-" : String.format("%.0f", v);
  }

  private double seconds() {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  private ServerSample sample() {
    double at = seconds();
    ServerSample s = ServerSample.scrape(http, base);
    synchronized (samples) {
      samples.add(new Timed(at, s));
    }
    return s;
  }
}
