package io.llavaserve.web.cluster;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * What a request would find in an engine's caches, as a gateway without a tokenizer can see it: the
 * digest of each image (its URL or data URI, i.e. its bytes) and a hash chain over the prompt's
 * text in fixed blocks of {@link #BLOCK_CHARS} characters, each hash covering everything before it
 * (images appear in the text as their digests), as the engine's prefix-block hashes do over tokens.
 * Gateway and engine compute them from the same request body, so a repeat matches.
 *
 * @param images image digests, in prompt order
 * @param prefix the chain's hashes, shortest prefix first
 */
public record CacheKeys(long[] images, long[] prefix) {

  /** Characters per prefix block: a few tokens' worth more than one KV block of text. */
  static final int BLOCK_CHARS = 64;

  private static final long FNV_OFFSET = 0xcbf29ce484222325L;
  private static final long FNV_PRIME = 0x100000001b3L;

  /** The keys of a chat ({@code messages}) or completion ({@code prompt}) body. */
  public static CacheKeys of(JsonObject body) {
    StringBuilder text = new StringBuilder();
    List<Long> images = new ArrayList<>();
    Object prompt = body.getValue("prompt");
    if (prompt instanceof String p) {
      text.append(p);
    }
    JsonArray messages = body.getJsonArray("messages");
    if (messages != null) {
      for (Object m : messages) {
        if (m instanceof JsonObject message) {
          text.append('\u0002').append(message.getString("role", "")).append('\u0002');
          appendContent(message.getValue("content"), text, images);
        }
      }
    }
    long[] chain = new long[text.length() / BLOCK_CHARS];
    long h = FNV_OFFSET;
    for (int b = 0; b < chain.length; b++) {
      for (int i = b * BLOCK_CHARS; i < (b + 1) * BLOCK_CHARS; i++) {
        h = (h ^ text.charAt(i)) * FNV_PRIME;
      }
      chain[b] = h;
    }
    return new CacheKeys(images.stream().mapToLong(Long::longValue).toArray(), chain);
  }

  private static void appendContent(Object content, StringBuilder text, List<Long> images) {
    if (content instanceof String s) {
      text.append(s);
    } else if (content instanceof JsonArray parts) {
      for (Object o : parts) {
        if (!(o instanceof JsonObject part)) {
          continue;
        }
        if (part.getValue("text") instanceof String s) {
          text.append(s);
        }
        Object image = part.getValue("image_url");
        String url =
            image instanceof JsonObject i
                ? i.getString("url")
                : image instanceof String s ? s : null;
        if (url != null) {
          long digest = digest(url);
          images.add(digest);
          text.append('\u0001').append(Long.toHexString(digest)).append('\u0001');
        }
      }
    }
  }

  /** The first 8 bytes of the SHA-256 of {@code s}. */
  static long digest(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      long v = 0;
      for (int i = 0; i < 8; i++) {
        v = (v << 8) | (d[i] & 0xff);
      }
      return v;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }
}
