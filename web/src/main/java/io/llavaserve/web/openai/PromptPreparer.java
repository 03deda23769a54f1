package io.llavaserve.web.openai;

import io.llavaserve.batching.engine.RequestValidator;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.image.ImageException;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.prompt.PromptBuilder;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.function.Function;

/**
 * The worker-pool half of a request: fetch or decode each image's bytes, preprocess the images,
 * render the chat template and tokenize. Nothing here runs on the event loop. Whether the prompt
 * fits is the engine's admission check, at submit.
 */
public final class PromptPreparer {

  /**
   * @param ids prompt ids, one image token per image
   * @param images preprocessed images in prompt order
   * @param positions prompt length once each image fills its positions
   */
  public record Prepared(int[] ids, List<PixelValues> images, int positions) {}

  private final Vertx vertx;
  private final LlavaModel model;
  private final RequestValidator admission;
  private final ImageUrlFetcher fetcher;

  public PromptPreparer(
      Vertx vertx, LlavaModel model, RequestValidator admission, ImageUrlFetcher fetcher) {
    this.vertx = vertx;
    this.model = model;
    this.admission = admission;
    this.fetcher = fetcher;
  }

  /** The request's prompt ids and pixels, made on the worker pool. */
  public Future<Prepared> prepare(OpenAiRequest request) {
    return withImages(request, pixels -> build(request, pixels));
  }

  /**
   * A chat request's prompt ids as the decoder will see them, for {@code /tokenize}: its images
   * fetched, decoded and preprocessed as {@link #prepare} does it (the same limits, the same
   * errors), the template rendered (with the generation prompt or not), and each image placeholder
   * repeated for every position that image fills in this model, as the engine expands it at
   * admission (so their number is the {@code usage.prompt_tokens} of the same chat request).
   *
   * @throws io.llavaserve.batching.events.RequestRejectedException (failing the future) when the
   *     rendered placeholders and the images differ in number
   */
  public Future<int[]> expandedChatIds(OpenAiRequest request, boolean addGenerationPrompt) {
    return withImages(
        request,
        pixels ->
            admission
                .expand(chatPrompt(model, request, addGenerationPrompt).ids(), pixels)
                .tokens());
  }

  /** Fetches and preprocesses the request's images, then runs {@code then} on the worker pool. */
  private <T> Future<T> withImages(OpenAiRequest request, Function<List<PixelValues>, T> then) {
    List<OpenAiRequest.Image> images = request.images();
    List<Future<byte[]>> bytes = new ArrayList<>();
    for (OpenAiRequest.Image image : images) {
      bytes.add(
          image.isDataUri()
              ? vertx.executeBlocking(() -> decodeDataUri(image), false)
              : fetcher.fetch(image.url()));
    }
    return Future.all(bytes)
        .compose(
            all ->
                vertx.executeBlocking(
                    () -> {
                      List<PixelValues> pixels = new ArrayList<>();
                      for (int i = 0; i < images.size(); i++) {
                        pixels.add(
                            preprocess(all.resultAt(i), images.size(), images.get(i).param()));
                      }
                      return then.apply(pixels);
                    },
                    false));
  }

  private static byte[] decodeDataUri(OpenAiRequest.Image image) {
    String url = image.url();
    try {
      return Base64.getDecoder().decode(url.substring(url.indexOf(',') + 1).strip());
    } catch (IllegalArgumentException e) {
      throw ApiError.badRequest(
          image.param(),
          image.param() + ": the data URI is not valid base64 (" + e.getMessage() + ")");
    }
  }

  /** One of the request's {@code imagesInPrompt} images (llava_onevision tiles only a lone one). */
  private PixelValues preprocess(byte[] encoded, int imagesInPrompt, String param) {
    try {
      return model.preprocess(encoded, imagesInPrompt);
    } catch (ImageException e) {
      throw ErrorResponses.image(e, param);
    }
  }

  /**
   * The chat prompt of a parsed chat request, one image token per image part.
   *
   * @throws ApiError 400 on {@code messages} when the template and the images disagree
   */
  static PromptBuilder.Prompt chatPrompt(
      LlavaModel model, OpenAiRequest request, boolean addGenerationPrompt) {
    List<ChatMessage> messages = new ArrayList<>();
    for (OpenAiRequest.Message m : request.messages()) {
      List<ContentPart> parts = new ArrayList<>();
      for (OpenAiRequest.Part p : m.parts()) {
        parts.add(
            p instanceof OpenAiRequest.Text t
                ? new ContentPart.Text(t.text())
                : new ContentPart.Image());
      }
      messages.add(new ChatMessage(m.role(), parts, m.toolCalls(), m.toolCallId()));
    }
    try {
      return model.chatPrompt(messages, request.tools().promptTools(), addGenerationPrompt);
    } catch (IllegalArgumentException e) {
      throw ApiError.badRequest("messages", "messages: " + e.getMessage());
    }
  }

  private Prepared build(OpenAiRequest request, List<PixelValues> pixels) {
    PromptBuilder.Prompt prompt;
    if (request.endpoint() == Endpoint.CHAT_COMPLETIONS) {
      prompt = chatPrompt(model, request, true);
    } else {
      prompt = model.rawPrompt(request.prompt());
    }
    int[] ids = prompt.ids();
    if (ids.length == 0) {
      // A tokenizer without BOS and a template (or prompt) that renders to nothing.
      String field = request.prompt() == null ? "messages" : "prompt";
      throw ApiError.badRequest(
          field, field + " encodes to no tokens; there is nothing to continue");
    }
    return new Prepared(ids, pixels, admission.promptPositions(ids, pixels));
  }
}
