package io.llavaserve.cli;

import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.engine.ModelSpec;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.image.ImageException;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.prompt.PromptBuilder;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.SceneRenderer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Asks one question about each scene through the continuous-batching engine, greedily, with many
 * requests in flight: each prompt is built as the server builds a chat request (the checkpoint's
 * chat template, one user message of an image part and the question) and each image goes the
 * server's way too (PNG bytes, decoded and preprocessed by the model). Images are prepared on a
 * small pool while the engine decodes; at most {@code inFlight} requests hold their pixels at once.
 */
final class EvalRunner {

  /**
   * One question.
   *
   * @param scene the image
   * @param text the user's text
   * @param maxTokens answer budget, cut to what the context leaves
   */
  record Question(Scene scene, String text, int maxTokens) {}

  /**
   * The answer to one question.
   *
   * @param text the generated text ("" when it failed)
   * @param error why the request failed, or null
   */
  record Answer(String text, String error) {}

  /**
   * Every answer in question order, with the figures of the run.
   *
   * @param seconds wall time from the first image prepared to the last answer
   * @param tokens generated tokens, all answers together
   */
  record Run(List<Answer> answers, double seconds, long tokens) {

    long failed() {
      return answers.stream().filter(a -> a.error() != null).count();
    }

    String firstError() {
      return answers.stream().map(Answer::error).filter(e -> e != null).findFirst().orElse(null);
    }
  }

  private final LlavaModel model;
  private final LlavaEngine engine;
  private final ModelSpec spec;

  EvalRunner(LlavaModel model, LlavaEngine engine) {
    this.model = model;
    this.engine = engine;
    this.spec = LlavaEngine.specOf(model);
  }

  /** Submits every question, keeping at most {@code inFlight} in the engine, and waits for all. */
  Run ask(List<Question> questions, int inFlight, int prepareThreads) throws InterruptedException {
    ExecutorService prepare =
        Executors.newFixedThreadPool(
            prepareThreads,
            r -> {
              Thread t = new Thread(r, "eval-prepare");
              t.setDaemon(true);
              return t;
            });
    Semaphore window = new Semaphore(inFlight);
    AtomicLong tokens = new AtomicLong();
    long start = System.nanoTime();
    try {
      List<CompletableFuture<Answer>> pending = new ArrayList<>();
      for (int i = 0; i < questions.size(); i++) {
        window.acquire();
        Question q = questions.get(i);
        String id = "eval-" + i;
        CompletableFuture<Answer> answer =
            CompletableFuture.supplyAsync(() -> request(id, q), prepare)
                .thenCompose(r -> submit(r, tokens))
                .handle(
                    (text, e) -> e == null ? new Answer(text, null) : new Answer("", message(e)));
        answer.whenComplete((a, e) -> window.release());
        pending.add(answer);
      }
      List<Answer> answers = pending.stream().map(CompletableFuture::join).toList();
      return new Run(answers, (System.nanoTime() - start) / 1e9, tokens.get());
    } finally {
      prepare.shutdownNow();
    }
  }

  /** The request as the server would build it for a chat message with one image and the text. */
  private GenerationRequest request(String id, Question q) {
    PromptBuilder.Prompt prompt =
        model.chatPrompt(
            List.of(ChatMessage.of("user", ContentPart.image(), ContentPart.text(q.text()))));
    PixelValues pixels;
    try {
      pixels = model.preprocess(SceneRenderer.png(q.scene()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (ImageException e) {
      throw new IllegalStateException("a rendered scene did not preprocess: " + e.getMessage(), e);
    }
    int positions = prompt.ids().length + prompt.imageCount() * (spec.imageRows(pixels) - 1);
    int maxTokens = Math.max(1, Math.min(q.maxTokens(), spec.maxModelLen() - positions));
    return GenerationRequest.interactive(
        id, prompt.ids(), List.of(pixels), SamplingParams.greedy(maxTokens));
  }

  /** Completes with the whole answer, or exceptionally with the engine's error. */
  private CompletableFuture<String> submit(GenerationRequest request, AtomicLong tokens) {
    CompletableFuture<String> done = new CompletableFuture<>();
    StringBuilder text = new StringBuilder();
    engine
        .submit(request)
        .subscribe(
            e -> {
              if (e instanceof TokenEvent.Token t) {
                tokens.incrementAndGet();
                text.append(t.text());
              } else if (e instanceof TokenEvent.Finished f) {
                text.append(f.text());
                if (f.reason() == FinishReason.ERROR) {
                  done.completeExceptionally(new IllegalStateException(f.error()));
                }
              }
            },
            done::completeExceptionally,
            () -> done.complete(text.toString()));
    return done;
  }

  private static String message(Throwable e) {
    Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    return cause.getMessage() != null ? cause.getMessage() : cause.toString();
  }
}
