package io.llavaserve.web.openai;

import io.llavaserve.batching.engine.RequestValidator;
import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.http.ApiError;
import io.llavaserve.web.metrics.RequestTimer;
import io.llavaserve.web.metrics.ServerMetrics;
import io.reactivex.rxjava3.core.Flowable;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The steps every transport shares, from a request body to a stream of token events: parse and
 * check (cheap, on the event loop), prepare images and prompt (on a worker), submit to the engine
 * with the request's timings fed to the metrics. Each refusal is counted in the metrics here. What
 * the engine can run is checked once, at submit, by the engine's own validator narrowed with this
 * server's {@code limits.max-prompt-tokens}.
 */
public final class CompletionPipeline {

  /**
   * A request accepted by the engine.
   *
   * @param events the token events; subscribe once (they arrive on the engine thread)
   * @param logprobs whether the request asked for logprobs
   * @param leave counts the request out of the server's in-flight requests; run it once the stream
   *     finished or was cancelled (running it twice is harmless)
   */
  public record Submitted(Flowable<TokenEvent> events, boolean logprobs, Runnable leave) {}

  private final boolean chat;
  private final ServedModel served;
  private final ServerState state;
  private final RequestParser parser;
  private final PromptPreparer preparer;
  private final RequestValidator admission;
  private final TokenText tokenText;
  private final ServerMetrics metrics;

  private CompletionPipeline(
      boolean chat,
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher fetcher,
      ServerMetrics metrics) {
    this.chat = chat;
    this.served = served;
    this.state = state;
    this.metrics = metrics;
    this.parser = new RequestParser(limits);
    this.admission =
        served
            .engine()
            .validator()
            .withMaxPromptTokens(limits.maxPromptTokens(), "limits.max-prompt-tokens");
    this.preparer = new PromptPreparer(vertx, served.model(), admission, fetcher);
    this.tokenText = new TokenText(served.model().tokenizer());
  }

  /** The pipeline of chat-completions bodies. */
  public static CompletionPipeline chat(
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher fetcher,
      ServerMetrics metrics) {
    return new CompletionPipeline(true, vertx, served, state, limits, fetcher, metrics);
  }

  /** The pipeline of completions bodies (a prompt, no chat template). */
  public static CompletionPipeline text(
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher fetcher,
      ServerMetrics metrics) {
    return new CompletionPipeline(false, vertx, served, state, limits, fetcher, metrics);
  }

  boolean isChat() {
    return chat;
  }

  public ServedModel served() {
    return served;
  }

  public TokenText tokenText() {
    return tokenText;
  }

  /** OpenAI's {@code usage} object, as the HTTP answers carry it. */
  public static JsonObject usage(Usage usage) {
    return ResponseFormat.usage(usage);
  }

  /**
   * Decodes a body into a JSON object.
   *
   * @throws ApiError 400 when it is empty, not JSON or not an object
   */
  public JsonObject body(Buffer body) {
    try {
      return RequestParser.body(body);
    } catch (RuntimeException e) {
      metrics.requestRejected("invalid");
      throw e;
    }
  }

  /**
   * Parses and checks a body, including the model it names; cheap enough for the event loop.
   *
   * @throws ApiError 400 or 404 naming the field
   */
  public OpenAiRequest parse(JsonObject body) {
    try {
      OpenAiRequest request = chat ? parser.chat(body) : parser.completion(body);
      if (request.model() != null && !request.model().equals(served.id())) {
        throw ApiError.notFound(
            "model",
            "model_not_found",
            "The model `"
                + request.model()
                + "` does not exist; this server serves `"
                + served.id()
                + "`");
      }
      return request;
    } catch (RuntimeException e) {
      metrics.requestRejected("invalid");
      throw e;
    }
  }

  /** Fetches and decodes the images, renders and tokenizes the prompt; off the event loop. */
  public Future<PromptPreparer.Prepared> prepare(OpenAiRequest request) {
    return preparer.prepare(request).onFailure(e -> metrics.requestRejected("invalid"));
  }

  /**
   * Hands a prepared request to the engine and counts it in.
   *
   * @throws OverloadedException when the engine's waiting queue is full
   * @throws RequestRejectedException when the request can never run, naming the field
   */
  public Submitted submit(String requestId, OpenAiRequest request, PromptPreparer.Prepared prompt) {
    return submit(requestId, request, prompt, Priority.INTERACTIVE);
  }

  /**
   * Hands a prepared request to the engine at {@code priority}. Batch-job requests are not counted
   * among the server's in-flight requests: a drain does not wait for them (their jobs resume).
   *
   * @throws OverloadedException when the engine's waiting queue is full
   * @throws RequestRejectedException when the request can never run, naming the field
   */
  public Submitted submit(
      String requestId, OpenAiRequest request, PromptPreparer.Prepared prompt, Priority priority) {
    Flowable<TokenEvent> events;
    RequestTimer timer;
    try {
      SamplingParams params = request.sampling().params();
      if (!request.sampling().maxTokensGiven()) {
        // Like vLLM: with no max_tokens, generate up to the limit or the end of the context.
        params =
            params.toBuilder()
                .maxTokens(admission.defaultMaxTokens(prompt.positions(), params.maxTokens()))
                .build();
      }
      events =
          served
              .engine()
              .submit(
                  new GenerationRequest(requestId, prompt.ids(), prompt.images(), params, priority),
                  admission);
      timer = metrics.startRequest();
      timer.queued();
    } catch (OverloadedException e) {
      metrics.requestRejected("overloaded");
      throw e;
    } catch (RequestRejectedException e) {
      metrics.requestRejected("invalid");
      throw e;
    }
    AtomicInteger tokens = new AtomicInteger();
    events =
        events
            .doOnNext(e -> record(timer, e, tokens))
            // A cancelled stream never sees its Finished event: end its timeline here.
            .doOnCancel(() -> timer.finished("abort", prompt.positions(), tokens.get(), 0));
    boolean logprobs = request.sampling().params().logprobs() >= 0;
    Runnable leave = priority == Priority.INTERACTIVE ? state.enter() : () -> {};
    return new Submitted(events, logprobs, leave);
  }

  /** Feeds the request's timings to the metrics; runs on the engine thread. */
  private static void record(RequestTimer timer, TokenEvent event, AtomicInteger tokens) {
    if (event instanceof TokenEvent.Token t) {
      tokens.incrementAndGet();
      if (t.index() == 0) {
        timer.firstToken();
      } else {
        timer.token();
      }
    } else if (event instanceof TokenEvent.Finished f) {
      timer.finished(
          f.reason().wireName(),
          f.usage().promptTokens(),
          f.usage().completionTokens(),
          f.usage().cachedPromptTokens());
    }
  }
}
