package io.llavaserve.cli;

import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.image.ImageException;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ContentPart;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * Prompts for the HTTP benchmark: text of words drawn with a seeded {@link Random} (text needs no
 * tokenizer round trip over HTTP), and optionally one generated PNG per request. Every request gets
 * its own words and image, so no transport profits from another's prefix or image cache; with an
 * image pool, the images come round-robin from a few, so they repeat (a workload for the caches and
 * for cache-aware routing).
 */
final class BenchPrompts {

  private static final String[] WORDS =
      ("the a picture shows small large red blue green house tree river city street people"
              + " walking near under over bright dark morning evening light shadow window door"
              + " garden mountain cloud describe what you see in detail please and with of on old"
              + " new car bicycle dog cat bird table chair book cup water stone bridge market"
              + " train station field flower sky road sign")
          .split(" ");

  private static final int IMAGE_SIDE = 64;

  /**
   * One request's content.
   *
   * @param id unique within the run
   * @param text the user message
   * @param png an encoded image to send before the text, or null
   */
  record Prompt(String id, String text, byte[] png) {}

  private final Random random;
  private final int words;
  private final boolean images;
  private final List<byte[]> pool = new ArrayList<>();
  private int next;

  BenchPrompts(long seed, int words, boolean images) {
    this(seed, words, images, 0);
  }

  /**
   * @param imagePool with images: how many distinct ones the requests share, round-robin; 0: a new
   *     one for every request
   */
  BenchPrompts(long seed, int words, boolean images, int imagePool) {
    if (words < 1) {
      throw new IllegalArgumentException("prompt-words must be >= 1, got " + words);
    }
    if (imagePool < 0) {
      throw new IllegalArgumentException("image-pool must be >= 0, got " + imagePool);
    }
    this.random = new Random(seed);
    this.words = words;
    this.images = images;
    for (int i = 0; images && i < imagePool; i++) {
      pool.add(png());
    }
  }

  /** {@code count} fresh prompts, ids prefixed with {@code tag}. */
  List<Prompt> next(String tag, int count) {
    List<Prompt> prompts = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      StringBuilder text = new StringBuilder();
      for (int w = 0; w < words; w++) {
        text.append(w == 0 ? "" : " ").append(WORDS[random.nextInt(WORDS.length)]);
      }
      byte[] image = !images ? null : pool.isEmpty() ? png() : pool.get(next % pool.size());
      prompts.add(new Prompt(tag + "-" + next++, text.toString(), image));
    }
    return prompts;
  }

  /** Random colour blocks: cheap to make, never the same twice. */
  private byte[] png() {
    BufferedImage img = new BufferedImage(IMAGE_SIDE, IMAGE_SIDE, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < IMAGE_SIDE; y += 8) {
      for (int x = 0; x < IMAGE_SIDE; x += 8) {
        int rgb = random.nextInt(1 << 24);
        for (int dy = 0; dy < 8; dy++) {
          for (int dx = 0; dx < 8; dx++) {
            img.setRGB(x + dx, y + dy, rgb);
          }
        }
      }
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try {
      ImageIO.write(img, "png", bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** The streaming chat-completions body, as vLLM's serving benchmark sends it. */
  static JsonObject chatBody(Prompt p, int maxTokens) {
    JsonArray content = new JsonArray();
    if (p.png() != null) {
      String uri = "data:image/png;base64," + Base64.getEncoder().encodeToString(p.png());
      content.add(
          new JsonObject()
              .put("type", "image_url")
              .put("image_url", new JsonObject().put("url", uri)));
    }
    content.add(new JsonObject().put("type", "text").put("text", p.text()));
    return new JsonObject()
        .put(
            "messages",
            new JsonArray().add(new JsonObject().put("role", "user").put("content", content)))
        .put("max_tokens", maxTokens)
        .put("temperature", 0)
        .put("ignore_eos", true)
        .put("stream", true)
        .put("stream_options", new JsonObject().put("include_usage", true));
  }

  /** The same request for the engine in process: the server's chat template and preprocessing. */
  static GenerationRequest engineRequest(LlavaModel model, Prompt p, int maxTokens) {
    List<ContentPart> parts = new ArrayList<>();
    List<PixelValues> pixels = new ArrayList<>();
    if (p.png() != null) {
      parts.add(new ContentPart.Image());
      try {
        pixels.add(model.preprocess(p.png()));
      } catch (ImageException e) {
        throw new IllegalStateException("the generated benchmark image did not decode", e);
      }
    }
    parts.add(new ContentPart.Text(p.text()));
    int[] ids = model.chatPrompt(List.of(new ChatMessage("user", parts))).ids();
    return GenerationRequest.interactive(p.id(), ids, pixels, BenchStats.fixedLength(maxTokens));
  }
}
