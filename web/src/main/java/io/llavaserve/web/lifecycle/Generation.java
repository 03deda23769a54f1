package io.llavaserve.web.lifecycle;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.openai.Endpoint;
import io.llavaserve.web.openai.OpenAiRequest;
import io.llavaserve.web.openai.ResponseFormat;
import io.llavaserve.web.openai.TokenText;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.Executor;

/**
 * One accepted request, from its parse to its last event: the handle a transport holds. {@link
 * #start} prepares the prompt on a worker, submits it to the engine and carries the token events to
 * the transport's thread, one at a time through the transport's {@link Gate}; the request is
 * counted among the server's in-flight requests from its submit until its last event is handled or
 * it is cancelled. {@link #cancel} may come at any point: while preparing, nothing is submitted;
 * while running, the engine aborts it and frees its KV blocks at its next step.
 *
 * <p>Everything but construction runs on the transport's one thread (the executor given to {@link
 * #start}); no listener call follows a cancel.
 */
public final class Generation {

  /** What a transport does with its request's progress; each call on the transport's thread. */
  public interface Listener {

    /** The engine took the request; its events follow. */
    default void onSubmitted() {}

    /**
     * A token, or the {@link TokenEvent.Finished} event of a choice (the stream's end when {@link
     * TokenEvent.Finished#last()}); one that finished with reason {@code error} was logged already
     * and is answered with {@link Generation#engineError}.
     */
    void onEvent(TokenEvent event);

    /**
     * The request was refused (its images or prompt while preparing, the engine at submit: an
     * {@link ApiError}, or an {@link io.llavaserve.batching.events.OverloadedException}), or its
     * stream failed. Nothing follows.
     */
    void onFailure(Throwable failure);
  }

  private enum Phase {
    ACCEPTED,
    PREPARING,
    SUBMITTING,
    RUNNING,
    OVER
  }

  private final RequestLifecycle lifecycle;
  private final OpenAiRequest request;
  private final JsonObject body;
  private final String model;
  private final String requestId;
  private final Priority priority;
  private Phase phase = Phase.ACCEPTED;
  private EventSubscriber subscriber; // while running
  private Runnable leave = () -> {};
  private int promptTokens;
  private int completionTokens;
  private ResponseFormat format;

  Generation(
      RequestLifecycle lifecycle,
      OpenAiRequest request,
      JsonObject body,
      String model,
      String requestId,
      Priority priority) {
    this.lifecycle = lifecycle;
    this.request = request;
    this.body = body;
    this.model = model;
    this.requestId = requestId;
    this.priority = priority;
  }

  /** Runs tasks on a Vert.x context: the connection's, for HTTP and WebSocket transports. */
  public static Executor on(Context context) {
    return task -> context.runOnContext(v -> task.run());
  }

  public OpenAiRequest request() {
    return request;
  }

  public Endpoint endpoint() {
    return request.endpoint();
  }

  /** The id errors and logs name. */
  public String requestId() {
    return requestId;
  }

  /**
   * The answer's id, and the engine's id of the request: {@code chatcmpl-...} or {@code cmpl-...}.
   */
  public String id() {
    return request.endpoint().idPrefix() + requestId;
  }

  public boolean logprobs() {
    return request.logprobs();
  }

  public TokenText tokenText() {
    return lifecycle.tokenText(model);
  }

  /** The answer objects of this request, in its endpoint's shape; made once, on first use. */
  public ResponseFormat format() {
    if (format == null) {
      format =
          request
              .endpoint()
              .format(
                  new ResponseFormat.Meta(
                      id(), System.currentTimeMillis() / 1000, model, logprobs(), request.tools()),
                  tokenText());
    }
    return format;
  }

  /** Usage as far as the transport has seen it: for an answer cut short by a cancel. */
  public Usage usageSoFar() {
    return new Usage(promptTokens, 0, completionTokens);
  }

  /** The error a failure is answered with, naming this request; unexpected ones are logged. */
  public ApiError error(Throwable failure) {
    return ErrorResponses.toApiError(failure, requestId);
  }

  /** The error of a stream that finished with reason {@code error} (its cause is logged). */
  public ApiError engineError() {
    return ApiError.internal(requestId);
  }

  /**
   * Prepares, submits and streams the request.
   *
   * @param thread runs each task later, in order, on the transport's one thread
   * @param gate the transport's backpressure
   */
  public void start(Executor thread, Gate gate, Listener listener) {
    if (phase != Phase.ACCEPTED) {
      throw new IllegalStateException("request " + requestId + " was started already");
    }
    phase = Phase.PREPARING;
    Backend.Job job = new Backend.Job(id(), requestId, request, body, model, priority);
    lifecycle
        .prepare(job)
        .onComplete(ar -> thread.execute(() -> prepared(job, ar, thread, gate, listener)));
  }

  private void prepared(
      Backend.Job job,
      AsyncResult<Backend.Submit> ar,
      Executor thread,
      Gate gate,
      Listener listener) {
    if (phase != Phase.PREPARING) {
      return; // cancelled while preparing: nothing was submitted
    }
    if (ar.failed()) {
      phase = Phase.OVER;
      listener.onFailure(ar.cause());
      return;
    }
    phase = Phase.SUBMITTING;
    lifecycle
        .submit(job, ar.result())
        .onComplete(
            submitted -> thread.execute(() -> submitted(submitted, thread, gate, listener)));
  }

  private void submitted(
      AsyncResult<Backend.Submitted> ar, Executor thread, Gate gate, Listener listener) {
    if (phase != Phase.SUBMITTING) {
      if (ar.succeeded()) {
        // Cancelled while the engine took it: abort it there.
        ar.result().events().subscribe(e -> {}, e -> {}).dispose();
      }
      return;
    }
    if (ar.failed()) {
      phase = Phase.OVER;
      listener.onFailure(ar.cause());
      return;
    }
    phase = Phase.RUNNING;
    promptTokens = ar.result().promptPositions();
    leave = lifecycle.enter(priority);
    subscriber = new EventSubscriber(thread, gate, sink(listener));
    // Events reach the listener through later tasks on this thread, so onSubmitted comes first.
    ar.result().events().subscribe(subscriber);
    listener.onSubmitted();
  }

  private EventSubscriber.Sink sink(Listener listener) {
    return new EventSubscriber.Sink() {
      @Override
      public void onEvent(TokenEvent event) {
        if (event instanceof TokenEvent.Token) {
          completionTokens++;
          listener.onEvent(event);
        } else if (event instanceof TokenEvent.Finished f) {
          boolean last = f.last();
          if (last) {
            phase = Phase.OVER;
          }
          if (f.reason() == FinishReason.ERROR) {
            ErrorResponses.engineFailure(requestId, f.error());
          }
          listener.onEvent(event);
          if (last) {
            leave.run();
          }
        }
      }

      @Override
      public void onFailure(Throwable failure) {
        phase = Phase.OVER;
        listener.onFailure(failure);
        leave.run();
      }
    };
  }

  /** Stops the request wherever it is; its listener hears nothing more. */
  public void cancel() {
    if (phase == Phase.OVER) {
      return;
    }
    phase = Phase.OVER;
    if (subscriber != null) {
      subscriber.cancel();
    }
    leave.run();
  }

  /** Whether the request has ended: finished, failed or cancelled. */
  public boolean over() {
    return phase == Phase.OVER;
  }
}
