package io.llavaserve.batching.engine;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.reactivex.rxjava3.core.Flowable;
import java.util.logging.Logger;

/**
 * The serving core: many concurrent requests, each with images and text, sharing every engine step.
 * {@link #submit} hands a request to the engine thread and returns its stream of token events;
 * cancelling the subscription aborts the request. The engine thread alone touches the scheduler:
 * {@link #close} too only queues a command to it and waits. The model it runs is its creator's to
 * close, after it.
 */
public final class LlavaEngine implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(LlavaEngine.class.getName());

  /** How long {@link #close} waits before it says that it waits for a long step. */
  private static final long SLOW_CLOSE_MS = 10_000;

  private final EngineLoop loop;
  private final ModelSpec spec;
  private final Thread thread;
  private volatile boolean closed;

  public LlavaEngine(ModelRunner runner, Tokenizer tokenizer, ModelSpec spec, EngineConfig config) {
    this.loop = new EngineLoop(runner, tokenizer, spec, config);
    this.spec = spec;
    this.thread = new Thread(loop::run, "llava-engine");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * An engine over a loaded model; the context length is the smaller of the model's and the KV
   * cache's.
   */
  public static LlavaEngine start(LlavaModel model, EngineConfig config) {
    return new LlavaEngine(model.runner(), model.tokenizer(), specOf(model), config);
  }

  public static ModelSpec specOf(LlavaModel model) {
    long capacity = model.runner().kvCache().capacityTokens();
    int maxLen = (int) Math.min(capacity, model.config().text().maxContext());
    return new ModelSpec(
        model.config().imageTokenIndex(),
        model.config().imageSeqLength(),
        maxLen,
        model.tokenizer().eosId(),
        model.config().anyResolution(),
        model.moreEosTokenIds());
  }

  /** The spec this engine runs with (context length, image rows, special ids). */
  public ModelSpec spec() {
    return spec;
  }

  /**
   * The admission check of this engine's spec; narrow it with a server's limits and pass it to
   * {@link #submit(GenerationRequest, RequestValidator)}.
   */
  public RequestValidator validator() {
    return loop.validator();
  }

  /**
   * Queues a request, checked by this engine's own {@link #validator()}. Subscribe to the result
   * once; events arrive on the engine thread.
   *
   * @throws RequestRejectedException when the request can never run, naming the field and limit
   * @throws OverloadedException when the waiting queue is full
   */
  public Flowable<TokenEvent> submit(GenerationRequest request) {
    return submit(request, validator());
  }

  /**
   * Queues a request checked by {@code admission}, which must come from this engine's {@link
   * #validator()} (narrowed or not).
   *
   * @throws RequestRejectedException when the request can never run, naming the field and limit
   * @throws OverloadedException when the waiting queue is full
   * @throws IllegalStateException when the engine is closed
   */
  public Flowable<TokenEvent> submit(GenerationRequest request, RequestValidator admission) {
    return loop.submit(request, admission);
  }

  /**
   * How long the engine has been inside one model step, in nanoseconds: 0 between steps, and {@link
   * Long#MAX_VALUE} once the engine thread has died. Readiness probes compare it with a bound to
   * tell a stalled engine from a busy one. Never blocks.
   */
  public long stepRunningNanos() {
    return thread.isAlive() || closed ? loop.stepRunningNanos() : Long.MAX_VALUE;
  }

  /** The latest snapshot; never blocks the loop. */
  public EngineStats stats() {
    return loop.stats();
  }

  /**
   * Stops the engine: the engine thread finishes the step in progress, then every request still
   * live with {@code abort}, and ends; this waits for it (unless called on the engine thread), so
   * the model can be closed next.
   */
  @Override
  public void close() {
    closed = true;
    loop.shutdown();
    if (Thread.currentThread() == thread) {
      return; // from an event handler: the loop ends after this command
    }
    try {
      thread.join(SLOW_CLOSE_MS);
      if (thread.isAlive()) {
        LOG.warning("closing the engine: waiting for the step in progress to end");
        thread.join();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
