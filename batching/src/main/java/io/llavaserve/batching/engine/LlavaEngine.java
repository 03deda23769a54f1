package io.llavaserve.batching.engine;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.reactivex.rxjava3.core.Flowable;

/**
 * The serving core: many concurrent requests, each with images and text, sharing every engine step.
 * {@link #submit} hands a request to the engine thread and returns its stream of token events;
 * cancelling the subscription aborts the request.
 */
public final class LlavaEngine implements AutoCloseable {

  private final EngineLoop loop;
  private final ModelSpec spec;
  private final Thread thread;
  private volatile boolean closed;

  public LlavaEngine(ModelRunner runner, Tokenizer tokenizer, ModelSpec spec, EngineConfig config) {
    this.loop = new EngineLoop(runner, tokenizer, spec, config);
    this.spec = spec;
    this.thread = new Thread(() -> loop.run(() -> closed), "llava-engine");
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
    int maxLen = (int) Math.min(capacity, model.config().text().maxPositionEmbeddings());
    return new ModelSpec(
        model.config().imageTokenIndex(),
        model.config().imageSeqLength(),
        maxLen,
        model.tokenizer().eosId());
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
   */
  public Flowable<TokenEvent> submit(GenerationRequest request, RequestValidator admission) {
    if (closed) {
      throw new IllegalStateException("engine is closed");
    }
    return loop.submit(request, admission);
  }

  /** The latest snapshot; never blocks the loop. */
  public EngineStats stats() {
    return loop.stats();
  }

  /** Stops the loop; requests still live finish with {@code abort}. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    loop.wake(() -> {});
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    loop.abortAll();
  }
}
