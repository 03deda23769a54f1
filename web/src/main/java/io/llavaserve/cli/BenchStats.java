package io.llavaserve.cli;

import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SamplingParams;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * What the serving benchmarks share: the timings of one streamed request, their summary over a run
 * (the figures vLLM's serving benchmark reports), and requests through the engine in process.
 */
final class BenchStats {

  private BenchStats() {}

  /**
   * Timings of one request.
   *
   * @param startNanos when it was sent
   * @param tokenNanos when each token event (a content delta, a token frame) arrived
   * @param endNanos when the answer ended
   * @param usageTokens completion tokens the answer's usage reports, or -1 without usage
   * @param promptTokens prompt tokens the answer's usage reports, or -1 without usage
   * @param cachedTokens of those, the ones the prefix cache held (usage's {@code
   *     prompt_tokens_details.cached_tokens}), or -1 without usage
   * @param error why it failed, or null
   * @param text the answer's text as it arrived, deltas and held-back tail joined
   * @param tokens one key per token event, in arrival order: the token's text from the logprobs
   *     where the transport gives them, its id on the WebSocket, else the delta's text
   * @param cut the client ended the request on purpose before its end (a cancel or a disconnect)
   * @param disorder a token frame's index did not follow the one before, or null
   */
  record Trace(
      long startNanos,
      long[] tokenNanos,
      long endNanos,
      int usageTokens,
      int promptTokens,
      int cachedTokens,
      String error,
      String text,
      List<String> tokens,
      boolean cut,
      String disorder) {

    int tokenEvents() {
      return tokenNanos.length;
    }

    /** Output tokens: the usage's count, else the events counted. */
    int outputTokens() {
      return usageTokens >= 0 ? usageTokens : tokenNanos.length;
    }

    boolean ok() {
      return error == null && !cut && tokenNanos.length > 0;
    }

    double ttftMs() {
      return (tokenNanos[0] - startNanos) / 1e6;
    }

    double e2eMs() {
      return (endNanos - startNanos) / 1e6;
    }
  }

  /** Builds a {@link Trace} as a request's events arrive; one thread at a time. */
  static final class Recorder {
    private final long startNanos = System.nanoTime();
    private long[] tokenNanos = new long[16];
    private int tokens;
    private int usageTokens = -1;
    private int promptTokens = -1;
    private int cachedTokens = -1;
    private final StringBuilder text = new StringBuilder();
    private final List<String> keys = new ArrayList<>();
    private String disorder;

    /** A token event whose text is not known. */
    void token() {
      token("", "");
    }

    /** A token event: its key (see {@link Trace#tokens}) and the text it added. */
    void token(String key, String piece) {
      if (tokens == tokenNanos.length) {
        tokenNanos = Arrays.copyOf(tokenNanos, 2 * tokens);
      }
      tokenNanos[tokens++] = System.nanoTime();
      keys.add(key);
      text.append(piece);
    }

    /** A token frame numbered {@code index}: it must be the next one. */
    void indexed(int index) {
      if (index != tokens - 1 && disorder == null) {
        disorder = "token index " + index + " arrived as token " + (tokens - 1);
      }
    }

    /** Text that came without a token of its own (a held-back tail). */
    void text(String piece) {
      text.append(piece);
    }

    int tokens() {
      return tokens;
    }

    void usage(int completionTokens) {
      usageTokens = completionTokens;
    }

    /** The prompt's tokens and those found in the prefix cache, as the usage reports them. */
    void prompt(int prompt, int cached) {
      promptTokens = prompt;
      cachedTokens = cached;
    }

    /** Reads completion, prompt and cached tokens from an OpenAI usage object. */
    void usage(JsonObject usage) {
      usage(usage.getInteger("completion_tokens", -1));
      JsonObject details = usage.getJsonObject("prompt_tokens_details");
      prompt(
          usage.getInteger("prompt_tokens", -1),
          details == null ? -1 : details.getInteger("cached_tokens", -1));
    }

    Trace done() {
      return trace(null, false);
    }

    Trace failed(String error) {
      return trace(error, false);
    }

    /** The client ended it on purpose. */
    Trace cut() {
      return trace(null, true);
    }

    private Trace trace(String error, boolean cut) {
      return new Trace(
          startNanos,
          Arrays.copyOf(tokenNanos, tokens),
          System.nanoTime(),
          usageTokens,
          promptTokens,
          cachedTokens,
          error,
          text.toString(),
          List.copyOf(keys),
          cut,
          disorder);
    }
  }

  /**
   * One run's figures over its successful requests; latencies in ms, sorted.
   *
   * @param firstError the first failure's message, or null
   */
  record Summary(
      int requests,
      int failed,
      String firstError,
      long tokenEvents,
      long usageTokens,
      long outputTokens,
      long promptTokens,
      long cachedTokens,
      double wallSec,
      double[] ttftMs,
      double[] itlMs,
      double[] e2eMs) {

    static Summary of(List<Trace> traces, double wallSec) {
      List<Trace> ok = traces.stream().filter(Trace::ok).toList();
      String firstError =
          traces.stream()
              .filter(t -> !t.ok())
              .map(t -> t.error() != null ? t.error() : "no tokens in the answer")
              .findFirst()
              .orElse(null);
      double[] itl =
          ok.stream()
              .flatMapToDouble(
                  t ->
                      java.util.stream.IntStream.range(1, t.tokenEvents())
                          .mapToDouble(i -> (t.tokenNanos()[i] - t.tokenNanos()[i - 1]) / 1e6))
              .sorted()
              .toArray();
      return new Summary(
          traces.size(),
          traces.size() - ok.size(),
          firstError,
          ok.stream().mapToLong(Trace::tokenEvents).sum(),
          ok.stream().mapToLong(t -> Math.max(0, t.usageTokens())).sum(),
          ok.stream().mapToLong(Trace::outputTokens).sum(),
          ok.stream().mapToLong(t -> Math.max(0, t.promptTokens())).sum(),
          ok.stream().mapToLong(t -> Math.max(0, t.cachedTokens())).sum(),
          wallSec,
          ok.stream().mapToDouble(Trace::ttftMs).sorted().toArray(),
          itl,
          ok.stream().mapToDouble(Trace::e2eMs).sorted().toArray());
    }

    double requestsPerSec() {
      return (requests - failed) / wallSec;
    }

    double outputTokensPerSec() {
      return outputTokens / wallSec;
    }

    /** Prompt tokens the prefix cache held / prompt tokens, as the answers' usage says; NaN. */
    double cacheHitRate() {
      return promptTokens == 0 ? Double.NaN : (double) cachedTokens / promptTokens;
    }
  }

  /** The {@code p}-th percentile (nearest rank) of sorted values; 0 when there are none. */
  static double percentile(double[] sorted, int p) {
    if (sorted.length == 0) {
      return 0;
    }
    int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

  static double mean(double[] values) {
    return Arrays.stream(values).average().orElse(0);
  }

  /** The benchmarks' sampling: greedy, exactly {@code maxTokens} tokens (EOS ignored). */
  static SamplingParams fixedLength(int maxTokens) {
    return SamplingParams.builder().maxTokens(maxTokens).temperature(0).ignoreEos(true).build();
  }

  /** Submits to the engine; completes with the request's trace when its stream ends. */
  static CompletableFuture<Trace> submit(LlavaEngine engine, GenerationRequest request) {
    CompletableFuture<Trace> done = new CompletableFuture<>();
    Recorder trace = new Recorder();
    engine
        .submit(request)
        .subscribe(
            e -> {
              if (e instanceof TokenEvent.Token t) {
                trace.token(String.valueOf(t.tokenId()), t.text());
              } else if (e instanceof TokenEvent.Finished f) {
                trace.usage(f.usage().completionTokens());
                trace.prompt(f.usage().promptTokens(), f.usage().cachedPromptTokens());
                if (f.reason() == FinishReason.ERROR) {
                  done.complete(trace.failed(f.error()));
                }
              }
            },
            err -> done.complete(trace.failed(String.valueOf(err))),
            () -> done.complete(trace.done()));
    return done;
  }
}
