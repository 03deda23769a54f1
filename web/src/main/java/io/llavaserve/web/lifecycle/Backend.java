package io.llavaserve.web.lifecycle;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.web.openai.OpenAiRequest;
import io.llavaserve.web.openai.TokenText;
import io.reactivex.rxjava3.core.Flowable;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

/**
 * Where a {@link RequestLifecycle}'s requests run: the engine of this process ({@link
 * LocalBackend}) or an engine elsewhere in the cluster ({@code cluster.RemoteBackend}). Every
 * transport submits through the lifecycle, so a transport never knows which.
 */
public interface Backend {

  /**
   * The id of the model a request names.
   *
   * @param requested the request's {@code model}; null: the default
   * @throws io.llavaserve.web.errors.ApiError 404 {@code model_not_found} when none serves it
   */
  String resolve(String requested);

  /** How {@code model} writes tool calls. */
  ToolCallSyntax toolSyntax(String model);

  /** Token pieces of {@code model}, for logprobs. */
  TokenText tokenText(String model);

  /**
   * Prepares a request off the event loop (images, template, tokens, wherever that happens);
   * nothing runs in an engine until the returned step is called.
   */
  Future<Submit> prepare(Job job);

  /**
   * One accepted request, as a backend sees it.
   *
   * @param id the engine's id of the request ({@code chatcmpl-...})
   * @param requestId the id errors and logs name
   * @param request the parsed request
   * @param body the body it was parsed from (what a remote engine parses again)
   * @param model the resolved model id
   */
  record Job(
      String id,
      String requestId,
      OpenAiRequest request,
      JsonObject body,
      String model,
      Priority priority) {}

  /** The second half of a request: hand it to an engine. */
  interface Submit {
    /** Submits; a refusal (overload, a prompt that never fits) fails the future or is thrown. */
    Future<Submitted> submit();
  }

  /**
   * A request an engine took.
   *
   * @param promptPositions the prompt's length, each image counting its positions
   * @param events its token events; cancelling the subscription aborts it in the engine
   */
  record Submitted(int promptPositions, Flowable<TokenEvent> events) {}
}
