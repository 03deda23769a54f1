package io.llavaserve.engine.prompt;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How a chat template expects a message's {@code content}, decided as vLLM decides its "auto"
 * chat-template content format: a template that loops over a message's content ({@code {% for part
 * in message['content'] %}}, directly or through a variable set from it) gets the OpenAI list of
 * parts ({@code {type: text, text}}, {@code {type: image}}); any other template gets a string, the
 * text parts joined by newlines with one {@code <image>} line per image in front (vLLM's
 * placeholders for a string template), which is what templates written for text models, such as
 * Llama 3.1's and Mistral's, concatenate and trim.
 */
final class ContentFormat {

  private static final String ACCESS = "\\s*(?:\\[\\s*['\"]content['\"]\\s*]|\\.content\\b)";

  /** {@code {% set x = m['content'] %}}: x holds a message's content. */
  private static final Pattern ALIAS =
      Pattern.compile("\\{%-?\\s*set\\s+(\\w+)\\s*=\\s*[A-Za-z_]\\w*" + ACCESS);

  /** The iterable of a {@code for} loop, up to a filter, a condition or the tag's end. */
  private static final Pattern FOR =
      Pattern.compile("\\{%-?\\s*for\\s+[\\w\\s,()]+?\\s+in\\s+([^|%]+?)\\s*(?:\\||\\bif\\b|-?%})");

  private static final Pattern CONTENT = Pattern.compile("^[A-Za-z_]\\w*" + ACCESS + "\\s*$");

  private ContentFormat() {}

  /** Whether the template loops over a message's content (else it reads content as a string). */
  static boolean iteratesContent(String template) {
    Set<String> aliases = new HashSet<>();
    Matcher alias = ALIAS.matcher(template);
    while (alias.find()) {
      aliases.add(alias.group(1));
    }
    Matcher loop = FOR.matcher(template);
    while (loop.find()) {
      String iterable = loop.group(1).strip();
      if (CONTENT.matcher(iterable).matches() || aliases.contains(iterable)) {
        return true;
      }
    }
    return false;
  }

  /** The parts as OpenAI-style dicts, in order. */
  static List<Map<String, Object>> parts(ChatMessage message) {
    List<Map<String, Object>> parts = new ArrayList<>();
    for (ContentPart part : message.content()) {
      Map<String, Object> dict = new LinkedHashMap<>();
      if (part instanceof ContentPart.Text text) {
        dict.put("type", "text");
        dict.put("text", text.text());
      } else {
        dict.put("type", "image");
      }
      parts.add(dict);
    }
    return parts;
  }

  /** The text parts joined by newlines, after one {@code <image>} line per image. */
  static String string(ChatMessage message) {
    String text =
        String.join(
            "\n",
            message.content().stream()
                .filter(p -> p instanceof ContentPart.Text)
                .map(p -> ((ContentPart.Text) p).text())
                .toList());
    List<String> lines =
        new ArrayList<>(Collections.nCopies(message.imageCount(), PromptBuilder.IMAGE_TEXT));
    lines.add(text);
    return String.join("\n", lines);
  }
}
