package io.llavaserve.cli;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;

/**
 * One closed-loop client of the soak run: it sends a request, waits for its end, and sends the
 * next, until told to stop. Each request picks its wire (SSE, WebSocket, plain JSON), whether it is
 * a greedy check or a sampled request with fresh words (and an image, at the image share), and
 * whether the client cancels it or drops its connection part way. The outcome of each goes to the
 * run's {@link SoakStats}.
 */
final class SoakClient implements Runnable {

  /** The wires a request goes over. */
  enum Wire {
    SSE,
    WS,
    JSON
  }

  /**
   * What all clients of a run share.
   *
   * @param wires the wires in the mix (WebSocket left out where the server has none)
   * @param maxTokens the largest answer; check answers are this long
   * @param timeout how long one request may take
   */
  record Load(
      HttpClient http,
      URI base,
      String apiKey,
      Duration timeout,
      List<Wire> wires,
      int maxTokens,
      int promptWords,
      double checkShare,
      double cancelShare,
      double imageShare,
      SoakChecks checks,
      SoakStats stats) {}

  private final Load load;
  private final String name;
  private final SplittableRandom random;
  private final BenchPrompts text;
  private final BenchPrompts withImage;
  private final BooleanSupplier stop;
  private final SseBenchClient sse;
  private final JsonBenchClient json;
  private WsBenchClient ws;
  private double jsonMillis = 500; // a running mean of plain answers' time: when to give up
  private long sent;

  SoakClient(Load load, int index, long seed, BooleanSupplier stop) {
    this.load = load;
    this.name = "c" + index;
    this.random = new SplittableRandom(seed * 7919 + index);
    this.text = new BenchPrompts(seed * 7919 + index, load.promptWords(), false);
    this.withImage = new BenchPrompts(seed * 7927 + index, load.promptWords(), true);
    this.stop = stop;
    this.sse = new SseBenchClient(load.http(), load.base(), load.apiKey(), load.timeout());
    this.json = new JsonBenchClient(load.http(), load.base(), load.apiKey(), load.timeout());
  }

  @Override
  public void run() {
    try {
      while (!stop.getAsBoolean()) {
        step();
      }
    } finally {
      if (ws != null) {
        ws.close();
      }
    }
  }

  /** Sends check prompt {@code index} over {@code wire}, alone and whole: its reference answer. */
  BenchStats.Trace reference(Wire wire, int index) throws Exception {
    BenchPrompts.Prompt p = load.checks().prompts().get(index);
    return send(wire, body(p, true, load.maxTokens(), wire), Cut.NONE);
  }

  /** How a request is cut: after how many tokens, and whether as a cancel or a disconnect. */
  record Cut(int afterTokens, SoakStats.Ending ending) {
    static final Cut NONE = new Cut(Integer.MAX_VALUE, SoakStats.Ending.COMPLETED);
  }

  private void step() {
    Wire wire = load.wires().get(random.nextInt(load.wires().size()));
    boolean check = random.nextDouble() < load.checkShare();
    int checkIndex = check ? random.nextInt(load.checks().prompts().size()) : -1;
    int maxTokens = check ? load.maxTokens() : 1 + random.nextInt(load.maxTokens());
    Cut cut = Cut.NONE;
    if (!check && random.nextDouble() < load.cancelShare()) {
      maxTokens = Math.max(maxTokens, 2);
      boolean disconnect = random.nextBoolean() || wire == Wire.JSON; // JSON can only hang up
      // a dropped SSE connection may go before the first token: an abort while still queued
      int least = disconnect && wire == Wire.SSE ? 0 : 1;
      cut =
          new Cut(
              least + random.nextInt(maxTokens - least),
              disconnect ? SoakStats.Ending.DISCONNECTED : SoakStats.Ending.CANCELLED);
    }
    BenchPrompts.Prompt p =
        check
            ? load.checks().prompts().get(checkIndex)
            : (random.nextDouble() < load.imageShare() ? withImage : text).next(name, 1).get(0);
    JsonObject body = body(p, check, maxTokens, wire);
    BenchStats.Trace t;
    try {
      t = send(wire, body, cut);
    } catch (Exception e) {
      load.stats().record(failure(e), wire + ": " + e);
      return;
    }
    if (t.error() != null) {
      load.stats().record(streamError(t), wire + ": " + t.error());
      return;
    }
    long tokens = t.outputTokens();
    boolean streamed = wire != Wire.JSON;
    double ttft = streamed && t.tokenEvents() > 0 ? t.ttftMs() : Double.NaN;
    double[] itl = streamed ? gaps(t) : new double[0];
    if (t.cut()) {
      load.stats().record(SoakStats.Outcome.cut(cut.ending(), t.tokenEvents(), ttft, itl));
      return;
    }
    String defect = null;
    if (check) {
      load.stats().checked();
      defect = SoakChecks.compare(load.checks().reference(wire, checkIndex), t);
    } else if (t.disorder() != null) {
      defect = "reordered tokens";
    } else if (wire != Wire.SSE && t.usageTokens() >= 0 && t.usageTokens() != t.tokenEvents()) {
      defect = "usage.completion_tokens != tokens streamed"; // a WebSocket sends every token
    }
    if (defect != null) {
      load.stats()
          .record(
              SoakStats.Outcome.failed(SoakStats.ErrorKind.MISMATCH, defect, tokens),
              wire + " " + p.id() + ": " + SoakChecks.quote(t.text()));
      return;
    }
    if (wire == Wire.JSON) {
      jsonMillis = 0.8 * jsonMillis + 0.2 * t.e2eMs();
    }
    load.stats().record(SoakStats.Outcome.completed(tokens, ttft, itl));
  }

  /**
   * The request: greedy with logprobs (so every token is seen) for a check, else sampled; a plain
   * JSON request does not stream.
   */
  private JsonObject body(BenchPrompts.Prompt p, boolean check, int maxTokens, Wire wire) {
    JsonObject body = BenchPrompts.chatBody(p, maxTokens);
    if (check) {
      if (wire != Wire.WS) {
        body.put("logprobs", true); // the WebSocket names each token's id anyway
      }
    } else {
      body.put("temperature", 0.8).put("top_p", 0.95);
    }
    if (wire == Wire.JSON) {
      body.remove("stream");
      body.remove("stream_options");
    }
    return body;
  }

  private BenchStats.Trace send(Wire wire, JsonObject body, Cut cut) throws Exception {
    return switch (wire) {
      case SSE -> sse.send(body.encode(), cut.afterTokens());
      case JSON -> json.send(body.encode(), cut == Cut.NONE ? null : giveUpAfter());
      case WS -> {
        if (ws == null || !ws.isOpen()) {
          if (ws != null) {
            ws.close();
          }
          ws = null; // a failed connect is tried again by the next request
          ws = WsBenchClient.connect(load.http(), load.base(), load.apiKey(), load.timeout());
        }
        String id = name + "-" + sent++;
        WsBenchClient.Cut wsCut =
            new WsBenchClient.Cut(cut.afterTokens(), cut.ending() == SoakStats.Ending.DISCONNECTED);
        yield ws.send(WsBenchClient.frame(id, body), wsCut);
      }
    };
  }

  /** A plain request given up part way through the time such answers take. */
  private Duration giveUpAfter() {
    return Duration.ofMillis(1 + (long) (random.nextDouble() * jsonMillis));
  }

  private static double[] gaps(BenchStats.Trace t) {
    long[] at = t.tokenNanos();
    double[] gaps = new double[Math.max(0, at.length - 1)];
    for (int i = 1; i < at.length; i++) {
      gaps[i - 1] = (at[i] - at[i - 1]) / 1e6;
    }
    return gaps;
  }

  /** A request that ended in an error the server or the stream reported. */
  static SoakStats.Outcome streamError(BenchStats.Trace t) {
    String e = t.error();
    if (e.startsWith("HTTP ")) {
      int end = e.indexOf(':');
      return SoakStats.Outcome.failed(
          SoakStats.ErrorKind.HTTP, end > 0 ? e.substring(0, end) : e, t.tokenEvents());
    }
    String detail =
        e.startsWith("error event")
            ? "error event"
            : e.startsWith("error frame")
                ? "error frame"
                : e.startsWith("the server closed") || e.startsWith("socket error")
                    ? "socket closed by the server"
                    : e;
    return SoakStats.Outcome.failed(SoakStats.ErrorKind.STREAM, detail, t.tokenEvents());
  }

  /** A request that threw: a timeout, a connection that failed, or something else. */
  static SoakStats.Outcome failure(Exception e) {
    Throwable cause =
        e instanceof java.util.concurrent.ExecutionException && e.getCause() != null
            ? e.getCause()
            : e;
    if (cause instanceof HttpTimeoutException || cause instanceof TimeoutException) {
      return SoakStats.Outcome.failed(SoakStats.ErrorKind.TIMEOUT, "timeout", 0);
    }
    if (cause instanceof IOException) {
      return SoakStats.Outcome.failed(
          SoakStats.ErrorKind.CONNECTION, cause.getClass().getSimpleName(), 0);
    }
    return SoakStats.Outcome.failed(
        SoakStats.ErrorKind.STREAM, cause.getClass().getSimpleName(), 0);
  }
}
