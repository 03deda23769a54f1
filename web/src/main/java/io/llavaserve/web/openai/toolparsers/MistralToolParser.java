package io.llavaserve.web.openai.toolparsers;

import io.llavaserve.engine.prompt.ToolCallIds;
import io.llavaserve.engine.sampling.constraint.ToolCallGrammar;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Mistral's format (vLLM's {@code mistral}, tokenizers before v11): {@code [TOOL_CALLS]} and a JSON
 * array of {@code {"name": "f", "arguments": {...}}} (an {@code "id"} beside them, as Mistral's
 * template writes calls back, is allowed and ignored); text before the marker is content, and
 * another marker after the array starts more calls. The marker, the array's brackets and commas and
 * the whitespace among them are markup. An element that is not a call of a declared function, or an
 * array that is not one, stays content from there on, word for word, with the marker or comma
 * before it.
 */
final class MistralToolParser implements ToolParser {

  static final String MARKER = ToolCallGrammar.MISTRAL_CALLS;

  static final ForcedCalls.Layout LAYOUT =
      ForcedCalls.Layout.json(
          List.of(MARKER, "["), List.of(), "arguments", List.of("}"), ",", List.of("]"));

  private enum State {
    /** Text: the marker starts calls. */
    CONTENT,
    /** After the marker: whitespace, then the array's bracket. */
    OPEN,
    /** After the bracket or a comma: whitespace, then an element's object. */
    BEFORE_CALL,
    /** Inside an element. */
    CALL,
    /** After an element: whitespace, then a comma or the closing bracket. */
    AFTER_CALL
  }

  private final CallReader reader;
  private final ForcedCalls forced;
  private final StringBuilder pending = new StringBuilder();

  /** Markup read since the last call or content: content again if no call follows. */
  private final StringBuilder held = new StringBuilder();

  private final StringBuilder object = new StringBuilder();
  private JsonValueScanner scanner;
  private State state = State.CONTENT;
  private int calls;

  MistralToolParser(Set<String> names, boolean forced, ToolCallIds ids) {
    this.reader = new CallReader(names, Set.of("arguments"), Set.of("id"), ids);
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
      // An array cut short after a call: what follows the calls, if anything, is content.
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
          moveToHeld(MARKER.length());
          state = State.OPEN;
          return true;
        }
        int keep = Markers.heldBack(pending, MARKER);
        content(out, pending.substring(0, pending.length() - keep));
        pending.delete(0, pending.length() - keep);
        return false;
      }
      case OPEN -> {
        return expect('[', State.BEFORE_CALL, out);
      }
      case BEFORE_CALL -> {
        moveToHeld(Markers.leadingWhitespace(pending));
        if (pending.isEmpty()) {
          return false;
        }
        if (pending.charAt(0) == '{') {
          scanner = new JsonValueScanner();
          object.setLength(0);
          state = State.CALL;
        } else {
          backToContent(out, "");
        }
        return true;
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
        char c = pending.charAt(0);
        if (c == ',') {
          moveToHeld(1);
          state = State.BEFORE_CALL;
        } else if (c == ']') {
          pending.deleteCharAt(0);
          held.setLength(0);
          state = State.CONTENT;
        } else {
          backToContent(out, "");
        }
        return true;
      }
      default -> throw new IllegalStateException(state.name());
    }
  }

  /** Whitespace, then {@code c}; else what was held is content. */
  private boolean expect(char c, State then, List<Piece> out) {
    moveToHeld(Markers.leadingWhitespace(pending));
    if (pending.isEmpty()) {
      return false;
    }
    if (pending.charAt(0) == c) {
      moveToHeld(1);
      state = then;
    } else {
      backToContent(out, "");
    }
    return true;
  }

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
