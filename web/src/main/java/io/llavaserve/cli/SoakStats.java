package io.llavaserve.cli;

import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The soak run's figures: every request's outcome goes into the current interval and into the run's
 * totals; {@link #roll} closes the interval as one row of the per-minute table. Clients of every
 * transport record from their own threads.
 */
final class SoakStats {

  /** How a request ended. */
  enum Ending {
    COMPLETED,
    CANCELLED,
    DISCONNECTED,
    FAILED
  }

  /** The table's error columns. Cancellations and disconnects are not errors. */
  enum ErrorKind {
    HTTP("http"),
    TIMEOUT("timeout"),
    CONNECTION("conn"),
    STREAM("stream"),
    MISMATCH("mismatch");

    final String column;

    ErrorKind(String column) {
      this.column = column;
    }
  }

  /**
   * One request's outcome.
   *
   * @param ending how it ended
   * @param tokens output tokens the client received
   * @param ttftMs time to the first token, or NaN (no token, or an answer that is not streamed)
   * @param itlMs gaps between its streamed tokens
   * @param error the error's column, or null
   * @param detail the error as the totals list it: {@code HTTP 503}, {@code lost tokens}, ...
   */
  record Outcome(
      Ending ending, long tokens, double ttftMs, double[] itlMs, ErrorKind error, String detail) {

    Outcome {
      if ((ending == Ending.FAILED) != (error != null)) {
        throw new IllegalArgumentException("a failed outcome, and only that, has an error kind");
      }
    }

    static Outcome completed(long tokens, double ttftMs, double[] itlMs) {
      return new Outcome(Ending.COMPLETED, tokens, ttftMs, itlMs, null, null);
    }

    static Outcome cut(Ending ending, long tokens, double ttftMs, double[] itlMs) {
      return new Outcome(ending, tokens, ttftMs, itlMs, null, null);
    }

    static Outcome failed(ErrorKind kind, String detail, long tokens) {
      return new Outcome(Ending.FAILED, tokens, Double.NaN, new double[0], kind, detail);
    }
  }

  /**
   * One interval's row.
   *
   * @param endSec seconds since the load started, at the interval's end
   * @param completed requests completed (batch lines included)
   * @param tokensPerSec output tokens received per second of the interval
   * @param errors errors by column
   * @param cancelled requests the client cancelled
   * @param disconnected requests whose connection the client dropped
   * @param batchJobs batch jobs that ended in the interval
   */
  record Row(
      double endSec,
      long completed,
      double tokensPerSec,
      double ttftP50,
      double ttftP99,
      double itlP50,
      double itlP99,
      Map<ErrorKind, Long> errors,
      long cancelled,
      long disconnected,
      long batchJobs) {}

  /** The run's counts; the latencies over the whole run. */
  record Totals(
      long completed,
      long tokens,
      long cancelled,
      long disconnected,
      long batchJobs,
      long checks,
      Map<ErrorKind, Long> errors,
      Map<String, Long> details,
      Map<String, String> examples,
      double ttftP50,
      double ttftP99,
      double itlP50,
      double itlP99) {

    long errorCount() {
      return errors.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  /** Counts and latencies of one span of time. */
  private static final class Span {
    long completed;
    long tokens;
    long cancelled;
    long disconnected;
    long batchJobs;
    final EnumMap<ErrorKind, Long> errors = new EnumMap<>(ErrorKind.class);
    double[] ttft = new double[64];
    int ttftCount;
    double[] itl = new double[256];
    int itlCount;

    void add(Outcome o) {
      tokens += o.tokens();
      switch (o.ending()) {
        case COMPLETED -> completed++;
        case CANCELLED -> cancelled++;
        case DISCONNECTED -> disconnected++;
        case FAILED -> errors.merge(o.error(), 1L, Long::sum);
      }
      if (!Double.isNaN(o.ttftMs())) {
        if (ttftCount == ttft.length) {
          ttft = Arrays.copyOf(ttft, 2 * ttftCount);
        }
        ttft[ttftCount++] = o.ttftMs();
      }
      if (itlCount + o.itlMs().length > itl.length) {
        itl = Arrays.copyOf(itl, Math.max(2 * itl.length, itlCount + o.itlMs().length));
      }
      System.arraycopy(o.itlMs(), 0, itl, itlCount, o.itlMs().length);
      itlCount += o.itlMs().length;
    }

    double[] sortedTtft() {
      double[] s = Arrays.copyOf(ttft, ttftCount);
      Arrays.sort(s);
      return s;
    }

    double[] sortedItl() {
      double[] s = Arrays.copyOf(itl, itlCount);
      Arrays.sort(s);
      return s;
    }

    Map<ErrorKind, Long> errors() {
      EnumMap<ErrorKind, Long> all = new EnumMap<>(ErrorKind.class);
      for (ErrorKind k : ErrorKind.values()) {
        all.put(k, errors.getOrDefault(k, 0L));
      }
      return all;
    }
  }

  private Span interval = new Span();
  private final Span run = new Span();
  private final Map<String, Long> details = new TreeMap<>();
  private final Map<String, String> examples = new TreeMap<>();
  private long checks;
  private double intervalStartSec;

  /** Records a request's outcome; {@code example} is a message kept for the first of its detail. */
  synchronized void record(Outcome o, String example) {
    interval.add(o);
    run.add(o);
    if (o.error() != null) {
      String key = o.error().column + ": " + o.detail();
      details.merge(key, 1L, Long::sum);
      if (example != null) {
        examples.putIfAbsent(key, example);
      }
    }
  }

  synchronized void record(Outcome o) {
    record(o, null);
  }

  /** A greedy answer compared with its reference (whether or not it matched). */
  synchronized void checked() {
    checks++;
  }

  /** A batch job ended (its lines are recorded one by one). */
  synchronized void batchJob() {
    interval.batchJobs++;
    run.batchJobs++;
  }

  /** Closes the interval at {@code nowSec} seconds since the start and opens the next one. */
  synchronized Row roll(double nowSec) {
    Span s = interval;
    interval = new Span();
    double seconds = Math.max(1e-9, nowSec - intervalStartSec);
    intervalStartSec = nowSec;
    double[] ttft = s.sortedTtft();
    double[] itl = s.sortedItl();
    return new Row(
        nowSec,
        s.completed,
        s.tokens / seconds,
        BenchStats.percentile(ttft, 50),
        BenchStats.percentile(ttft, 99),
        BenchStats.percentile(itl, 50),
        BenchStats.percentile(itl, 99),
        s.errors(),
        s.cancelled,
        s.disconnected,
        s.batchJobs);
  }

  synchronized Totals totals() {
    double[] ttft = run.sortedTtft();
    double[] itl = run.sortedItl();
    return new Totals(
        run.completed,
        run.tokens,
        run.cancelled,
        run.disconnected,
        run.batchJobs,
        checks,
        run.errors(),
        Collections.unmodifiableMap(new TreeMap<>(details)),
        Collections.unmodifiableMap(new TreeMap<>(examples)),
        BenchStats.percentile(ttft, 50),
        BenchStats.percentile(ttft, 99),
        BenchStats.percentile(itl, 50),
        BenchStats.percentile(itl, 99));
  }
}
