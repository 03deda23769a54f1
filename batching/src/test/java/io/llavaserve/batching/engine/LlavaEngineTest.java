package io.llavaserve.batching.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The engine on its own thread over the fake runner: what closing it does to a running step. */
class LlavaEngineTest {

  /** The fake runner, its first step held until {@code release} opens. */
  static final class HeldStep implements ModelRunner {
    final FakeModelRunner fake = new FakeModelRunner(64, 4, EngineLoopTest.VOCAB);
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    final AtomicBoolean stepping = new AtomicBoolean();
    final AtomicInteger stepsEnded = new AtomicInteger();

    HeldStep() {
      fake.rows = EngineLoopTest.ROWS;
    }

    @Override
    public StepOutput execute(ScheduledBatch batch) {
      stepping.set(true);
      try {
        entered.countDown();
        release.await();
        return fake.execute(batch);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      } finally {
        stepping.set(false);
        stepsEnded.incrementAndGet();
      }
    }

    @Override
    public List<ImageFeatures> encodeImages(List<PixelValues> images) {
      return fake.encodeImages(images);
    }

    @Override
    public KvCacheConfig kvCache() {
      return fake.kvCache();
    }

    @Override
    public int vocabSize() {
      return fake.vocabSize();
    }

    @Override
    public void close() {}
  }

  @Test
  void closeDuringALongStepAbortsOnTheEngineThreadOnceTheStepHasEnded() throws Exception {
    HeldStep runner = new HeldStep();
    ModelSpec spec =
        new ModelSpec(Workload.IMAGE_TOKEN, EngineLoopTest.ROWS, 4096, FakeModelRunner.EOS);
    LlavaEngine engine =
        new LlavaEngine(runner, LlamaTokenizer.bundledLlama(), spec, EngineConfig.defaults());
    GenerationRequest request =
        GenerationRequest.interactive(
            "long",
            new int[] {1, 100, 200, 300},
            List.of(),
            SamplingParams.greedy(500).toBuilder().ignoreEos(true).build());
    AtomicReference<String> finishedOn = new AtomicReference<>();
    AtomicBoolean steppingAtFinish = new AtomicBoolean();
    AtomicInteger stepsEndedAtFinish = new AtomicInteger();
    TestSubscriber<TokenEvent> ts =
        engine
            .submit(request)
            .doOnNext(
                e -> {
                  if (e instanceof TokenEvent.Finished) {
                    finishedOn.set(Thread.currentThread().getName());
                    steppingAtFinish.set(runner.stepping.get());
                    stepsEndedAtFinish.set(runner.stepsEnded.get());
                  }
                })
            .test();
    assertTrue(runner.entered.await(10, TimeUnit.SECONDS), "the first step started");

    CompletableFuture<Void> closing = CompletableFuture.runAsync(engine::close);
    runner.release.countDown();
    closing.get(10, TimeUnit.SECONDS);

    ts.assertComplete();
    assertEquals(FinishReason.ABORT, EngineLoopTest.finished(ts).reason());
    assertEquals("llava-engine", finishedOn.get(), "the abort ran on the engine thread");
    assertFalse(steppingAtFinish.get(), "no step ran while the request was aborted");
    assertEquals(
        runner.stepsEnded.get(), stepsEndedAtFinish.get(), "no step ran after the abort either");
    assertThrows(IllegalStateException.class, () -> engine.submit(request));
    engine.close(); // a second close has nothing left to do
  }
}
