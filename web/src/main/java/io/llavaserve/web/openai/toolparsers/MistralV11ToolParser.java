package io.llavaserve.web.openai.toolparsers;

import io.llavaserve.engine.prompt.ToolCallIds;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.sampling.constraint.ToolCallGrammar;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Mistral's format from tokenizer v11 on (vLLM's {@code mistral} on such a tokenizer): each call is
 * {@code [TOOL_CALLS]name[ARGS]{...}}, its arguments the JSON object after {@code [ARGS]}; some
 * versions write {@code [CALL_ID]} and an id between the name and {@code [ARGS]}, which is skipped
 * (the answer's calls get ids of their own, as vLLM gives them). Text before the first marker is
 * content, and so is text after a call that another marker does not follow. The markers, the name,
 * the id and the whitespace around the arguments are markup. A call whose name is not a declared
 * function, or whose arguments are not one JSON object, stays content from its marker on, word for
 * word.
 */
final class MistralV11ToolParser implements ToolParser {

  static final String MARKER = ToolCallGrammar.MISTRAL_CALLS;
  static final String ARGS = ToolCallSyntax.MISTRAL_ARGS;
  static final String CALL_ID = ToolCallSyntax.MISTRAL_CALL_ID;

  static final ForcedCalls.Layout LAYOUT =
      new ForcedCalls.Layout(
          List.of(),
          List.of(MARKER),
          Pattern.compile("\\A([A-Za-z0-9_-]+)" + Pattern.quote(ARGS)),
          false,
          List.of(),
          "",
          List.of());

  /** The longest name a request may declare, and the longest id read. */
  private static final int MAX_NAME = 64;

  private enum State {
    /** Text: the marker starts a call. */
    CONTENT,
    /** After the marker: the name, up to {@code [ARGS]} or {@code [CALL_ID]}. */
    NAME,
    /** After {@code [CALL_ID]}: the id, up to {@code [ARGS]}. */
    ID,
    /** After {@code [ARGS]}: whitespace, then the arguments' object. */
    BEFORE_ARGUMENTS,
    /** Inside the arguments. */
    ARGUMENTS,
    /** After a call: whitespace, then another marker or content. */
    AFTER_CALL
  }

  private final Set<String> names;
  private final ToolCallIds ids;
  private final ForcedCalls forced;
  private final StringBuilder pending = new StringBuilder();

  /** Markup read since the last call or content: content again if no call follows. */
  private final StringBuilder held = new StringBuilder();

  private final StringBuilder name = new StringBuilder();
  private final StringBuilder id = new StringBuilder();
  private final StringBuilder object = new StringBuilder();
  private JsonValueScanner scanner;
  private State state = State.CONTENT;
  private int calls;

  MistralV11ToolParser(Set<String> names, boolean forced, ToolCallIds ids) {
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
      if (state == State.AFTER_CALL && pending.isEmpty()) {
        held.setLength(0); // whitespace after the last call
      }
      content(out, held.toString() + object + pending);
    }
    pending.setLength(0);
    held.setLength(0);
    object.setLength(0);
    return out;
  }

  private boolean step(List<Piece> out) {
    switch (state) {
      case CONTENT -> {
        int marker = pending.indexOf(MARKER);
        if (marker >= 0) {
          content(out, pending.substring(0, marker));
          pending.delete(0, marker);
          startCall();
          return true;
        }
        int keep = Markers.heldBack(pending, MARKER);
        content(out, pending.substring(0, pending.length() - keep));
        pending.delete(0, pending.length() - keep);
        return false;
      }
      case NAME, ID -> {
        return nameOrId(out);
      }
      case BEFORE_ARGUMENTS -> {
        moveToHeld(Markers.leadingWhitespace(pending));
        if (pending.isEmpty()) {
          return false;
        }
        if (pending.charAt(0) == '{') {
          scanner = new JsonValueScanner();
          object.setLength(0);
          state = State.ARGUMENTS;
        } else {
          backToContent(out, "");
        }
        return true;
      }
      case ARGUMENTS -> {
        String text = pending.toString();
        pending.setLength(0);
        object.append(scanner.take(text));
        if (!scanner.done()) {
          return false;
        }
        pending.append(text.substring(scanner.consumed()));
        String arguments = object.toString();
        if (!CallReader.isObject(arguments)) {
          backToContent(out, arguments);
        } else {
          out.add(new CallStart(calls, ids.newId(), name.toString()));
          out.add(new Arguments(calls, arguments));
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
        if (startsWith(MARKER)) {
          startCall(); // the whitespace before it stays held, content should the call fail
        } else if (MARKER.startsWith(pending.toString())) {
          return false;
        } else {
          backToContent(out, "");
        }
        return true;
      }
      default -> throw new IllegalStateException(state.name());
    }
  }

  /**
   * Reads a name (or an id) up to the marker that ends it: {@code [ARGS]}, or {@code [CALL_ID]}
   * after a name; anything else in it means it was not a call.
   */
  private boolean nameOrId(List<Piece> out) {
    int i = 0;
    while (i < pending.length() && isNameChar(pending.charAt(i))) {
      i++;
    }
    (state == State.NAME ? name : id).append(pending, 0, i);
    moveToHeld(i);
    if (name.length() > MAX_NAME || id.length() > MAX_NAME) {
      backToContent(out, "");
      return true;
    }
    if (pending.isEmpty()) {
      return false;
    }
    if (startsWith(ARGS)) {
      moveToHeld(ARGS.length());
      if (!names.contains(name.toString())) {
        backToContent(out, "");
      } else {
        state = State.BEFORE_ARGUMENTS;
      }
      return true;
    }
    if (state == State.NAME && !name.isEmpty() && startsWith(CALL_ID)) {
      moveToHeld(CALL_ID.length());
      state = State.ID;
      return true;
    }
    String rest = pending.toString();
    if (ARGS.startsWith(rest) || state == State.NAME && CALL_ID.startsWith(rest)) {
      return false; // the start of a marker
    }
    backToContent(out, "");
    return true;
  }

  private void startCall() {
    moveToHeld(MARKER.length());
    name.setLength(0);
    id.setLength(0);
    state = State.NAME;
  }

  private static boolean isNameChar(char c) {
    return c >= 'a' && c <= 'z'
        || c >= 'A' && c <= 'Z'
        || c >= '0' && c <= '9'
        || c == '_'
        || c == '-';
  }

  private boolean startsWith(String marker) {
    return pending.length() >= marker.length()
        && pending.substring(0, marker.length()).equals(marker);
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
