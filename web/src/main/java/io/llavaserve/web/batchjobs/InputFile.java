package io.llavaserve.web.batchjobs;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A batch input file checked as a whole before any work starts: every line a JSON object with a
 * {@code custom_id} used once, {@code method} POST, {@code url} the job's endpoint and a {@code
 * body} object. Whether a body is a valid request is the endpoint's business, line by line.
 */
final class InputFile {

  /** One request of the job; {@code line} is 1-based. */
  record Line(int line, String customId, JsonObject body) {}

  /** The lines, or the reasons the file was refused (then no line runs). */
  record Checked(List<Line> lines, List<BatchJob.LineError> errors) {}

  /** Reports at most this many problems, like OpenAI. */
  static final int MAX_ERRORS = 50;

  private InputFile() {}

  /** What {@link #nextLine} returns for a line that is not UTF-8 (compared by identity). */
  private static final String NOT_UTF8 = new String("\uFFFD");

  /**
   * The next line of {@code in} without its line end ({@code \n} or {@code \r\n}), {@link
   * #NOT_UTF8} when its bytes are not UTF-8, or null at the end.
   */
  private static String nextLine(InputStream in, ByteArrayOutputStream buffer, CharsetDecoder utf8)
      throws IOException {
    buffer.reset();
    int b;
    while ((b = in.read()) >= 0 && b != '\n') {
      buffer.write(b);
    }
    if (b < 0 && buffer.size() == 0) {
      return null;
    }
    byte[] bytes = buffer.toByteArray();
    int length =
        bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
    try {
      return utf8.decode(ByteBuffer.wrap(bytes, 0, length)).toString();
    } catch (CharacterCodingException e) {
      return NOT_UTF8;
    }
  }

  static Checked check(Path file, String endpoint) throws IOException {
    List<Line> lines = new ArrayList<>();
    List<BatchJob.LineError> errors = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
      String text;
      int n = 0;
      CharsetDecoder utf8 =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT);
      ByteArrayOutputStream buffer = new ByteArrayOutputStream();
      while (errors.size() < MAX_ERRORS && (text = nextLine(in, buffer, utf8)) != null) {
        n++;
        if (text.isBlank()) {
          continue;
        }
        String problem = null;
        JsonObject o = null;
        if (text == NOT_UTF8) {
          problem = "line " + n + " is not valid UTF-8";
        } else {
          try {
            o = new JsonObject(text);
          } catch (DecodeException | ClassCastException e) {
            problem = "line " + n + " is not a JSON object";
          }
        }
        if (problem == null) {
          problem = fields(o, endpoint);
        }
        if (problem == null) {
          Integer first = seen.putIfAbsent(o.getString("custom_id"), n);
          if (first != null) {
            errors.add(
                new BatchJob.LineError(
                    "duplicate_custom_id",
                    "custom_id \""
                        + o.getString("custom_id")
                        + "\" on line "
                        + n
                        + " was already used on line "
                        + first,
                    n));
            continue;
          }
          lines.add(new Line(n, o.getString("custom_id"), o.getJsonObject("body")));
        } else {
          errors.add(new BatchJob.LineError("invalid_request", problem, n));
        }
      }
    }
    if (errors.isEmpty() && lines.isEmpty()) {
      errors.add(new BatchJob.LineError("empty_file", "the input file holds no requests", null));
    }
    return new Checked(errors.isEmpty() ? lines : List.of(), errors);
  }

  private static String fields(JsonObject o, String endpoint) {
    if (!(o.getValue("custom_id") instanceof String id) || id.isEmpty()) {
      return "custom_id must be a non-empty string";
    }
    if (!"POST".equals(o.getValue("method"))) {
      return "method must be \"POST\", got " + o.getValue("method");
    }
    if (!endpoint.equals(o.getValue("url"))) {
      return "url must be the batch's endpoint \"" + endpoint + "\", got " + o.getValue("url");
    }
    if (!(o.getValue("body") instanceof JsonObject)) {
      return "body must be a JSON object";
    }
    return null;
  }
}
