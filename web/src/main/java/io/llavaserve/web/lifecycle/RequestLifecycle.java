package io.llavaserve.web.lifecycle;

import io.llavaserve.batching.engine.RequestValidator;
import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.metrics.RequestTimer;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.Endpoint;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.OpenAiRequest;
import io.llavaserve.web.openai.PromptPreparer;
import io.llavaserve.web.openai.RequestLimits;
import io.llavaserve.web.openai.RequestParser;
import io.llavaserve.web.openai.ServedModel;
import io.llavaserve.web.openai.TokenText;
import io.reactivex.rxjava3.core.Flowable;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one way a request goes through this server, whatever its transport: parse and check (cheap,
 * on the event loop: {@link #accept}), then, in the {@link Generation} it returns, prepare images
 * and prompt on a worker, submit to the engine (checked once, at admission, by the engine's own
 * validator narrowed with {@code limits.max-prompt-tokens}), stream the token events back, count
 * the request in and out of the server's in-flight requests. Every refusal is counted in the
 * metrics here, every request's timings too. Shared by all transports of a server; safe on any
 * thread.
 */
public final class RequestLifecycle {

  private final ServedModel served;
  private final ServerState state;
  private final RequestLimits limits;
  private final RequestValidator admission;
  private final PromptPreparer preparer;
  private final TokenText tokenText;
  private final ServerMetrics metrics;

  public RequestLifecycle(
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher fetcher,
      ServerMetrics metrics) {
    this.served = served;
    this.state = state;
    this.limits = limits;
    this.metrics = metrics;
    this.admission =
        served
            .engine()
            .validator()
            .withMaxPromptTokens(limits.maxPromptTokens(), "limits.max-prompt-tokens");
    this.preparer = new PromptPreparer(vertx, served.model(), admission, fetcher);
    this.tokenText = new TokenText(served.model().tokenizer());
  }

  /**
   * Decodes a request body (or a WebSocket frame) into a JSON object.
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
   * Parses and checks a body of {@code endpoint}, including the model it names; cheap enough for
   * the event loop. Nothing runs until the returned generation is started.
   *
   * @param requestId the id that errors and logs name; the engine knows the request as the
   *     endpoint's id prefix followed by it
   * @param priority {@link Priority#BATCH} requests are not counted among the server's in-flight
   *     requests: a drain does not wait for them (their jobs resume)
   * @throws ApiError 400 or 404 naming the field
   */
  public Generation accept(
      Endpoint endpoint, JsonObject body, String requestId, Priority priority) {
    try {
      OpenAiRequest request = endpoint.parse(body, limits);
      served.requireNamed(request.model());
      return new Generation(this, request, requestId, priority);
    } catch (RuntimeException e) {
      metrics.requestRejected("invalid");
      throw e;
    }
  }

  String modelId() {
    return served.id();
  }

  TokenText tokenText() {
    return tokenText;
  }

  /** Fetches and decodes the images, renders and tokenizes the prompt; off the event loop. */
  Future<PromptPreparer.Prepared> prepare(OpenAiRequest request) {
    return preparer.prepare(request).onFailure(e -> metrics.requestRejected("invalid"));
  }

  /** Counts a submitted request in; the action returned counts it out (twice is harmless). */
  Runnable enter(Priority priority) {
    return priority == Priority.INTERACTIVE ? state.enter() : () -> {};
  }

  /**
   * Hands a prepared request to the engine, with its timings fed to the metrics.
   *
   * @param id the engine's id of the request
   * @throws OverloadedException when the engine's waiting queue is full
   * @throws ApiError 400 when the request can never run, naming the field as its endpoint does
   */
  Flowable<TokenEvent> submit(
      String id, OpenAiRequest request, PromptPreparer.Prepared prompt, Priority priority) {
    Flowable<TokenEvent> events;
    RequestTimer timer;
    try {
      SamplingParams params = request.sampling();
      if (!request.maxTokensGiven()) {
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
                  new GenerationRequest(
                      id, prompt.ids(), prompt.images(), params, priority, request.n()),
                  admission);
      timer = metrics.startRequest();
      timer.queued();
    } catch (OverloadedException e) {
      metrics.requestRejected("overloaded");
      throw e;
    } catch (RequestRejectedException e) {
      metrics.requestRejected("invalid");
      throw request.endpoint().rejection(e);
    }
    AtomicInteger tokens = new AtomicInteger();
    AtomicInteger finished = new AtomicInteger(); // completion tokens of the choices that ended
    return events
        .doOnNext(e -> record(timer, e, tokens, finished))
        // A cancelled stream never sees its Finished event: end its timeline here.
        .doOnCancel(() -> timer.finished("abort", prompt.positions(), tokens.get(), 0));
  }

  /** Feeds the request's timings to the metrics; runs on the engine thread. */
  private static void record(
      RequestTimer timer, TokenEvent event, AtomicInteger tokens, AtomicInteger finished) {
    if (event instanceof TokenEvent.Token t) {
      if (tokens.getAndIncrement() == 0) {
        timer.firstToken();
      } else {
        timer.token();
      }
    } else if (event instanceof TokenEvent.Finished f) {
      int completion = finished.addAndGet(f.usage().completionTokens());
      if (f.last()) { // the prompt counted once, the choices' outputs summed
        timer.finished(
            f.reason().wireName(),
            f.usage().promptTokens(),
            completion,
            f.usage().cachedPromptTokens());
      }
    }
  }
}
