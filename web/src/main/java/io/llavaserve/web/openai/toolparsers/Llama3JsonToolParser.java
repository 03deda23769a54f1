package io.llavaserve.web.openai.toolparsers;

import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The Llama 3.1 / 3.2 JSON format (vLLM's {@code llama3_json}): {@code {"name": "f", "parameters":
 * {...}}} ({@code "arguments"} is read too), several calls separated by {@code ;}. Calls open the
 * answer (after whitespace) or follow {@code <|python_tag|>}, which may come after text; text
 * before the tag is content. A JSON object anywhere else is content, as is a call region that turns
 * out not to be calls (bad JSON, an undeclared name, other keys), from where it stops being calls,
 * the tag or separator before it included. Whitespace around the tag, the calls and their
 * separators is markup; text after the last call is content.
 *
 * <p>Llama 3.1's built-in tools are called the same way with Python after the tag, {@code
 * <|python_tag|>brave_search.call(query="...")} (then {@code <|eom_id|>}, a stop token): such a
 * call of a declared function, with literal keyword arguments, is read into a call with JSON
 * arguments ({@code {"query": "..."}}) when the answer ends; anything else after the tag (Python
 * for the code interpreter, say) is content.
 */
final class Llama3JsonToolParser implements ToolParser {

  /** Llama 3's "begin of tool call" token (a special token, so answers keep special tokens). */
  static final String PYTHON_TAG = "<|python_tag|>";

  static final ForcedCalls.Layout LAYOUT =
      ForcedCalls.Layout.json(List.of(), List.of(), "parameters", List.of("}"), ";", List.of());

  private enum State {
    /** Nothing but whitespace yet: a call may open the answer. */
    START,
    /** Text: only the tag starts calls. */
    CONTENT,
    /** After the tag or a separator: whitespace, then a call's object. */
    BEFORE_CALL,
    /** Inside a call's object. */
    CALL,
    /** After a call: whitespace, then a separator or the end of the calls. */
    AFTER_CALL,
    /** After the tag and {@code name.call(}: a built-in tool's arguments, read at the end. */
    BUILTIN
  }

  /** What may still become a built-in call's opening, {@code name.call(}. */
  private static final java.util.regex.Pattern BUILTIN_PREFIX =
      java.util.regex.Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.(c(a(l(l)?)?)?)?)?");

  private static final java.util.regex.Pattern BUILTIN_OPEN =
      java.util.regex.Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)\\.call\\(");

  private final CallReader reader;
  private final ForcedCalls forced;
  private final Set<String> names;
  private final ToolCallIds ids;
  private String builtinName; // the built-in call being read
  private final StringBuilder pending = new StringBuilder();

  /** Markup read since the last call or content: content again if no call follows. */
  private final StringBuilder held = new StringBuilder();

  private final StringBuilder object = new StringBuilder();
  private JsonValueScanner scanner;
  private State state = State.START;
  private int calls;

  Llama3JsonToolParser(Set<String> names, boolean forced, ToolCallIds ids) {
    this.reader = new CallReader(names, Set.of("parameters", "arguments"), Set.of(), ids);
    this.names = Set.copyOf(names);
    this.ids = ids;
    this.forced = forced ? new ForcedCalls(LAYOUT, ids) : null;
  }

  @Override
  public boolean hasCalls() {
    return forced != null ? forced.calls() > 0 : calls > 0;
  }

  @Override
  public List<Piece> feed(String text) {
    if (forced != null) {
      return forced.feed(text);
    }
    pending.append(text);
    List<Piece> out = new ArrayList<>();
    while (step(out)) {
      // each step reads what it can
    }
    return out;
  }

  @Override
  public List<Piece> finish() {
    List<Piece> out = new ArrayList<>();
    if (forced == null) {
      switch (state) {
        case AFTER_CALL -> content(out, pending.toString()); // held: whitespace after the calls
        case BUILTIN -> builtin(out);
        case START, CONTENT -> content(out, held + pending.toString());
        default -> content(out, held.toString() + object + pending);
      }
    }
    pending.setLength(0);
    held.setLength(0);
    object.setLength(0);
    return out;
  }

  private boolean step(List<Piece> out) {
    switch (state) {
      case START -> {
        int ws = Markers.leadingWhitespace(pending);
        if (ws == pending.length()) {
          return false;
        }
        if (pending.charAt(ws) == '{') {
          moveToHeld(ws);
          startCall();
        } else {
          state = State.CONTENT;
        }
        return true;
      }
      case CONTENT -> {
        int tag = pending.indexOf(PYTHON_TAG);
        if (tag >= 0) {
          content(out, pending.substring(0, tag));
          pending.delete(0, tag);
          moveToHeld(PYTHON_TAG.length());
          state = State.BEFORE_CALL;
          return true;
        }
        int keep = Markers.heldBack(pending, PYTHON_TAG);
        content(out, pending.substring(0, pending.length() - keep));
        pending.delete(0, pending.length() - keep);
        return false;
      }
      case BEFORE_CALL -> {
        moveToHeld(Markers.leadingWhitespace(pending));
        if (pending.isEmpty()) {
          return false;
        }
        if (pending.charAt(0) == '{') {
          startCall();
          return true;
        }
        java.util.regex.Matcher open = BUILTIN_OPEN.matcher(pending);
        if (calls == 0 && open.lookingAt() && names.contains(open.group(1))) {
          builtinName = open.group(1);
          moveToHeld(open.end());
          state = State.BUILTIN;
        } else if (calls == 0 && BUILTIN_PREFIX.matcher(pending).matches()) {
          return false; // may still open a built-in call
        } else {
          backToContent(out, "");
        }
        return true;
      }
      case BUILTIN -> {
        return false; // read whole at the end
      }
      case CALL -> {
        String text = pending.toString();
        pending.setLength(0);
        object.append(scanner.take(text));
        if (!scanner.done()) {
          return false;
        }
        pending.append(text.substring(scanner.consumed()));
        Call call = reader.read(object.toString());
        if (call == null) {
          backToContent(out, object.toString());
        } else {
          out.add(new CallStart(calls, call.id(), call.name()));
          out.add(new Arguments(calls, call.arguments()));
          calls++;
          held.setLength(0);
          object.setLength(0);
          state = State.AFTER_CALL;
        }
        return true;
      }
      case AFTER_CALL -> {
        moveToHeld(Markers.leadingWhitespace(pending));
        if (pending.isEmpty()) {
          return false;
        }
        if (pending.charAt(0) == ';') {
          moveToHeld(1);
          state = State.BEFORE_CALL;
        } else {
          backToContent(out, "");
        }
        return true;
      }
      default -> throw new IllegalStateException(state.name());
    }
  }

  /**
   * Reads the built-in call held since its {@code name.call(}: a call with JSON arguments when the
   * rest is its literal keyword arguments and the closing parenthesis (whitespace around them
   * allowed), else content.
   */
  private void builtin(List<Piece> out) {
    String rest = pending.toString().strip();
    PythonicCalls call = new PythonicCalls(names, ids);
    List<Piece> pieces = new ArrayList<>();
    String python = "[" + builtinName + "(" + rest + "]";
    for (int i = 0; i < python.length() && !call.failed(); i++) {
      call.feed(python.charAt(i), pieces);
    }
    if (call.done() && !call.failed() && call.calls() == 1) {
      out.addAll(pieces);
      calls++;
    } else {
      content(out, held.toString() + pending);
    }
    pending.setLength(0);
  }

  private void startCall() {
    scanner = new JsonValueScanner();
    object.setLength(0);
    state = State.CALL;
  }

  /** What was held (and {@code more}) was not a call after all: content, and text from here. */
  private void backToContent(List<Piece> out, String more) {
    content(out, held + more);
    held.setLength(0);
    object.setLength(0);
    state = State.CONTENT;
  }

  private void moveToHeld(int n) {
    held.append(pending, 0, n);
    pending.delete(0, n);
  }

  private static void content(List<Piece> out, String text) {
    if (!text.isEmpty()) {
      out.add(new Content(text));
    }
  }
}
