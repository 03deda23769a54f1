package io.llavaserve.web.batchjobs;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
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

  static Checked check(Path file, String endpoint) throws IOException {
    List<Line> lines = new ArrayList<>();
    List<BatchJob.LineError> errors = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String text;
      int n = 0;
      while ((text = r.readLine()) != null && errors.size() < MAX_ERRORS) {
        n++;
        if (text.isBlank()) {
          continue;
        }
        String problem = null;
        JsonObject o = null;
        try {
          o = new JsonObject(text);
        } catch (DecodeException | ClassCastException e) {
          problem = "line " + n + " is not a JSON object";
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
