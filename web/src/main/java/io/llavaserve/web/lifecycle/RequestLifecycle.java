package io.llavaserve.web.lifecycle;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.web.ServerState;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.metrics.RequestTimer;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.Endpoint;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.OpenAiRequest;
import io.llavaserve.web.openai.RequestLimits;
import io.llavaserve.web.openai.RequestParser;
import io.llavaserve.web.openai.ServedModel;
import io.llavaserve.web.openai.TokenText;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The one way a request goes through this server, whatever its transport: parse and check (cheap,
 * on the event loop: {@link #accept}), then, in the {@link Generation} it returns, prepare and
 * submit through the {@link Backend} (this process's engine, or one across the cluster), stream the
 * token events back, count the request in and out of the server's in-flight requests. Every refusal
 * is counted in the metrics here, every request's timings too. Shared by all transports of a
 * server; safe on any thread.
 */
public final class RequestLifecycle {

  private final ServerState state;
  private final RequestLimits limits;
  private final Backend backend;
  private final ServerMetrics metrics;

  /** A lifecycle over the engine of this process. */
  public RequestLifecycle(
      Vertx vertx,
      ServedModel served,
      ServerState state,
      RequestLimits limits,
      ImageUrlFetcher fetcher,
      ServerMetrics metrics) {
    this(
        state, limits, new LocalBackend(vertx, served, limits.maxPromptTokens(), fetcher), metrics);
  }

  public RequestLifecycle(
      ServerState state, RequestLimits limits, Backend backend, ServerMetrics metrics) {
    this.state = state;
    this.limits = limits;
    this.backend = backend;
    this.metrics = metrics;
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
   * Parses and checks a body of {@code endpoint}, including the model it names, and binds its tools
   * to how that model writes calls; cheap enough for the event loop (a forced call's grammar is
   * compiled once per schema and cached). Nothing runs until the returned generation is started.
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
      OpenAiRequest parsed = endpoint.parse(body, limits);
      String model = backend.resolve(parsed.model());
      OpenAiRequest request = parsed.withToolSyntax(backend.toolSyntax(model));
      return new Generation(this, request, body, model, requestId, priority);
    } catch (RuntimeException e) {
      metrics.requestRejected("invalid");
      throw e;
    }
  }

  TokenText tokenText(String model) {
    return backend.tokenText(model);
  }

  /** Fetches and decodes the images, renders and tokenizes the prompt; off the event loop. */
  Future<Backend.Submit> prepare(Backend.Job job) {
    return backend.prepare(job).onFailure(e -> metrics.requestRejected("invalid"));
  }

  /** Counts a submitted request in; the action returned counts it out (twice is harmless). */
  Runnable enter(Priority priority) {
    return priority == Priority.INTERACTIVE ? state.enter() : () -> {};
  }

  /**
   * Hands a prepared request to its engine, with its timings fed to the metrics. Fails with an
   * {@link OverloadedException} when the engine's waiting queue is full, with an {@link ApiError}
   * 400 when the request can never run (naming the field as its endpoint does).
   */
  Future<Backend.Submitted> submit(Backend.Job job, Backend.Submit step) {
    Future<Backend.Submitted> submitted;
    try {
      submitted = step.submit();
    } catch (RuntimeException e) {
      submitted = Future.failedFuture(e);
    }
    return submitted.transform(
        ar -> {
          if (ar.failed()) {
            return Future.failedFuture(refused(job.request(), ar.cause()));
          }
          return Future.succeededFuture(timed(ar.result()));
        });
  }

  private Throwable refused(OpenAiRequest request, Throwable e) {
    if (e instanceof OverloadedException || e instanceof ApiError a && a.status() == 429) {
      metrics.requestRejected("overloaded");
    } else if (e instanceof RequestRejectedException r) {
      metrics.requestRejected("invalid");
      return request.endpoint().rejection(r);
    } else if (e instanceof ApiError a && a.status() < 500) {
      metrics.requestRejected("invalid");
    }
    return e;
  }

  private Backend.Submitted timed(Backend.Submitted s) {
    RequestTimer timer = metrics.startRequest();
    timer.queued();
    AtomicInteger tokens = new AtomicInteger();
    AtomicInteger finished = new AtomicInteger(); // completion tokens of the choices that ended
    int prompt = s.promptPositions();
    return new Backend.Submitted(
        prompt,
        s.events()
            .doOnNext(e -> record(timer, e, tokens, finished))
            // A cancelled stream never sees its Finished event: end its timeline here.
            .doOnCancel(() -> timer.finished("abort", prompt, tokens.get(), 0)));
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
