package io.llavaserve.web.openai;

import static io.llavaserve.engine.prompt.ToolPrompt.CALL_CLOSE;
import static io.llavaserve.engine.prompt.ToolPrompt.CALL_OPEN;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a chat answer's text, as it streams, into content and tool calls in the default format:
 * {@code <tool_call>{"name": ..., "arguments": {...}}</tool_call>} blocks. Text that could still be
 * the start of a block is held back until it is decided.
 *
 * <ul>
 *   <li>Free decoding ({@code tool_choice} auto): a block becomes a call once it is closed and its
 *       JSON is an object naming a declared function with an object of arguments; any other block
 *       stays content, word for word, as does a block the answer never closes.
 *   <li>Forced decoding (required, a named function): the grammar guarantees the blocks, so a call
 *       starts as soon as its name is read and its arguments stream as they come; text between
 *       blocks (whitespace) is dropped.
 * </ul>
 *
 * The arguments of a call are the text the model wrote for them. Feeding the whole text at once
 * gives the same pieces, joined, as feeding it token by token; one instance per answer.
 */
public final class ToolCallStream {

  /** What a piece of the answer turned out to be. */
  public sealed interface Piece {}

  /** Text for the answer's content. */
  public record Content(String text) implements Piece {}

  /** A call begins: OpenAI's first tool-call delta, with its arguments still to come. */
  public record CallStart(int index, String id, String name) implements Piece {}

  /** More of call {@code index}'s arguments. */
  public record Arguments(int index, String fragment) implements Piece {}

  /** A whole call, for an answer that does not stream. */
  public record Call(String id, String name, String arguments) {}

  /**
   * A whole answer.
   *
   * @param content the text outside calls; null when there are calls and it is blank
   */
  public record Parsed(String content, List<Call> calls) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final String ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

  /** The opening of a block's JSON up to its arguments, name first as the grammar writes it. */
  private static final Pattern HEAD =
      Pattern.compile(
          "\\A\\s*\\{\\s*\"name\"\\s*:\\s*(\"(?:[^\"\\\\]|\\\\.)*\")\\s*,\\s*\"arguments\"\\s*:");

  private final Set<String> names;
  private final boolean forced;
  private final StringBuilder pending = new StringBuilder();
  private boolean inBlock;
  private int calls;
  // forced decoding only: the call whose arguments are streaming, and where they are
  private ArgumentsScanner arguments;
  private boolean argumentsDone;

  /**
   * @param names the functions a call may name
   * @param forced whether a grammar forces the calls
   */
  public ToolCallStream(Set<String> names, boolean forced) {
    this.names = Set.copyOf(names);
    this.forced = forced;
  }

  /** Reads a whole answer. */
  public static Parsed parse(Set<String> names, boolean forced, String text) {
    ToolCallStream s = new ToolCallStream(names, forced);
    List<Piece> pieces = new ArrayList<>(s.feed(text));
    pieces.addAll(s.finish());
    StringBuilder content = new StringBuilder();
    List<String> ids = new ArrayList<>();
    List<String> callNames = new ArrayList<>();
    List<StringBuilder> args = new ArrayList<>();
    for (Piece p : pieces) {
      if (p instanceof Content c) {
        content.append(c.text());
      } else if (p instanceof CallStart c) {
        ids.add(c.id());
        callNames.add(c.name());
        args.add(new StringBuilder());
      } else if (p instanceof Arguments a) {
        args.get(a.index()).append(a.fragment());
      }
    }
    List<Call> calls = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      calls.add(new Call(ids.get(i), callNames.get(i), args.get(i).toString()));
    }
    String rest = content.toString();
    return new Parsed(!calls.isEmpty() && rest.isBlank() ? null : rest, calls);
  }

  /** Whether some call was found so far. */
  public boolean hasCalls() {
    return calls > 0;
  }

  /** The pieces {@code text} decides, in order. */
  public List<Piece> feed(String text) {
    pending.append(text);
    List<Piece> out = new ArrayList<>();
    boolean progress = true;
    while (progress) {
      progress = inBlock ? block(out) : outside(out);
    }
    return out;
  }

  /** The end of the answer: what was held back, as content unless it is a forced call's tail. */
  public List<Piece> finish() {
    List<Piece> out = new ArrayList<>();
    if (!pending.isEmpty()) {
      if (!forced) {
        content(out, inBlock ? CALL_OPEN + pending : pending.toString());
      } else if (arguments != null && !argumentsDone) {
        // max_tokens cut the arguments short: what there is of them
        arguments(out, pending.toString());
      }
      pending.setLength(0);
    }
    return out;
  }

  private boolean outside(List<Piece> out) {
    int open = pending.indexOf(CALL_OPEN);
    if (open >= 0) {
      content(out, pending.substring(0, open));
      pending.delete(0, open + CALL_OPEN.length());
      inBlock = true;
      return true;
    }
    int keep = heldBack(pending);
    content(out, pending.substring(0, pending.length() - keep));
    pending.delete(0, pending.length() - keep);
    return false;
  }

  /** The length of the longest end of {@code text} that {@link #CALL_OPEN} starts with. */
  private static int heldBack(CharSequence text) {
    for (int n = Math.min(CALL_OPEN.length() - 1, text.length()); n > 0; n--) {
      if (CALL_OPEN.startsWith(text.subSequence(text.length() - n, text.length()).toString())) {
        return n;
      }
    }
    return 0;
  }

  private void content(List<Piece> out, String text) {
    if (!text.isEmpty() && !forced) {
      out.add(new Content(text));
    }
  }

  private boolean block(List<Piece> out) {
    if (forced) {
      return forcedBlock(out);
    }
    int close = pending.indexOf(CALL_CLOSE);
    if (close < 0) {
      return false;
    }
    String body = pending.substring(0, close);
    pending.delete(0, close + CALL_CLOSE.length());
    inBlock = false;
    Call call = call(body);
    if (call == null) {
      content(out, CALL_OPEN + body + CALL_CLOSE);
    } else {
      out.add(new CallStart(calls, call.id(), call.name()));
      out.add(new Arguments(calls, call.arguments()));
      calls++;
    }
    return true;
  }

  /** A closed block's call, or null when it is not one of a declared function. */
  private Call call(String body) {
    JsonNode node;
    try {
      node = JSON.readTree(body);
    } catch (IOException e) {
      return null;
    }
    if (node == null
        || !node.isObject()
        || !node.path("name").isTextual()
        || !names.contains(node.get("name").textValue())) {
      return null;
    }
    JsonNode args = node.get("arguments");
    if (args != null && args.isTextual()) {
      // Some models write the arguments as a JSON string, as the API carries them.
      try {
        args = JSON.readTree(args.textValue());
      } catch (IOException e) {
        return null;
      }
    }
    if (args == null || !args.isObject() || node.size() != 2) {
      return null;
    }
    String text = args.toString();
    Matcher head = HEAD.matcher(body);
    if (head.find() && node.get("arguments").isObject()) {
      ArgumentsScanner scanner = new ArgumentsScanner();
      String raw = scanner.take(body.substring(head.end()));
      if (scanner.done()) {
        text = raw;
      }
    }
    return new Call(newId(), node.get("name").textValue(), text);
  }

  private boolean forcedBlock(List<Piece> out) {
    if (arguments == null) {
      Matcher head = HEAD.matcher(pending);
      if (!head.find()) {
        return false;
      }
      String name;
      try {
        name = JSON.readValue(head.group(1), String.class);
      } catch (IOException e) {
        name = head.group(1);
      }
      out.add(new CallStart(calls, newId(), name));
      pending.delete(0, head.end());
      arguments = new ArgumentsScanner();
      argumentsDone = false;
    }
    if (!argumentsDone) {
      String text = pending.toString();
      pending.setLength(0);
      arguments(out, text);
      if (!argumentsDone) {
        return false;
      }
    }
    int close = pending.indexOf(CALL_CLOSE);
    if (close < 0) {
      return false;
    }
    pending.delete(0, close + CALL_CLOSE.length());
    inBlock = false;
    arguments = null;
    calls++;
    return true;
  }

  /** Streams {@code text} into the current call's arguments; what follows them goes back. */
  private void arguments(List<Piece> out, String text) {
    String taken = arguments.take(text);
    if (!taken.isEmpty()) {
      out.add(new Arguments(calls, taken));
    }
    if (arguments.done()) {
      argumentsDone = true;
      pending.insert(0, text.substring(arguments.consumed()));
    }
  }

  private static String newId() {
    StringBuilder id = new StringBuilder("call_");
    for (int i = 0; i < 24; i++) {
      id.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
    }
    return id.toString();
  }

  /**
   * Finds the end of one JSON value in text that arrives in pieces: skips the whitespace before it,
   * keeps its characters, and stops right after its last one.
   */
  static final class ArgumentsScanner {
    private int depth;
    private boolean started;
    private boolean inString;
    private boolean escape;
    private boolean done;
    private boolean any; // some character of the value was kept
    private int consumed; // of the text last taken

    /** The characters of {@code text} that belong to the value. */
    String take(String text) {
      StringBuilder kept = new StringBuilder();
      int i = 0;
      for (; i < text.length() && !done; i++) {
        char c = text.charAt(i);
        if (!started) {
          if (Character.isWhitespace(c)) {
            continue;
          }
          started = true;
        }
        if (inString) {
          any = true;
          kept.append(c);
          if (escape) {
            escape = false;
          } else if (c == '\\') {
            escape = true;
          } else if (c == '"') {
            inString = false;
            done = depth == 0;
          }
          continue;
        }
        if (depth == 0 && (c == '}' || any && (Character.isWhitespace(c) || c == ','))) {
          done = true; // the end of a scalar value
          break;
        }
        any = true;
        kept.append(c);
        if (c == '"') {
          inString = true;
        } else if (c == '{' || c == '[') {
          depth++;
        } else if (c == '}' || c == ']') {
          depth--;
          done = depth == 0;
        }
      }
      consumed = i;
      return kept.toString();
    }

    boolean done() {
      return done;
    }

    /** How much of the text last taken was read. */
    int consumed() {
      return consumed;
    }
  }
}
