package io.llavaserve.web.lifecycle;

import io.llavaserve.batching.engine.RequestValidator;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.OpenAiRequest;
import io.llavaserve.web.openai.PromptPreparer;
import io.llavaserve.web.openai.ServedModel;
import io.llavaserve.web.openai.TokenText;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * The engine of this process: images and prompt prepared on a worker, then the request queued in
 * the engine, checked once by the engine's own validator narrowed with {@code
 * limits.max-prompt-tokens}.
 */
public final class LocalBackend implements Backend {

  private final ServedModel served;
  private final RequestValidator admission;
  private final PromptPreparer preparer;
  private final TokenText tokenText;

  public LocalBackend(
      Vertx vertx, ServedModel served, int maxPromptTokens, ImageUrlFetcher fetcher) {
    this.served = served;
    this.admission =
        served
            .engine()
            .validator()
            .withMaxPromptTokens(maxPromptTokens, "limits.max-prompt-tokens");
    this.preparer = new PromptPreparer(vertx, served.model(), admission, fetcher);
    this.tokenText = new TokenText(served.model().tokenizer());
  }

  @Override
  public String resolve(String requested) {
    served.requireNamed(requested);
    return served.id();
  }

  @Override
  public ToolCallSyntax toolSyntax(String model) {
    return served.model().toolCallSyntax();
  }

  @Override
  public TokenText tokenText(String model) {
    return tokenText;
  }

  @Override
  public Future<Submit> prepare(Job job) {
    return preparer.prepare(job.request()).map(prompt -> () -> submit(job, prompt));
  }

  /** Queues the request in the engine; refusals are thrown (the engine checks synchronously). */
  private Future<Submitted> submit(Job job, PromptPreparer.Prepared prompt) {
    OpenAiRequest request = job.request();
    SamplingParams params = request.sampling();
    if (!request.maxTokensGiven()) {
      // Like vLLM: with no max_tokens, generate up to the limit or the end of the context.
      params =
          params.toBuilder()
              .maxTokens(admission.defaultMaxTokens(prompt.positions(), params.maxTokens()))
              .build();
    }
    return Future.succeededFuture(
        new Submitted(
            prompt.positions(),
            served
                .engine()
                .submit(
                    new GenerationRequest(
                        job.id(),
                        prompt.ids(),
                        prompt.images(),
                        params,
                        job.priority(),
                        request.n()),
                    admission)));
  }
}
