package io.llavaserve.web.openai.toolparsers;

import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The pythonic format of Llama 3.2 and Llama 4 (vLLM's {@code pythonic}): an answer that opens,
 * after whitespace, with a Python list of calls, {@code [get_weather(city="Oslo"), get_time()]},
 * read by {@link PythonicCalls} into calls with JSON arguments; Llama 4's {@code <|python_start|>}
 * before the list and {@code <|python_end|>} after it are markup (vLLM's {@code llama4_pythonic}).
 * An answer that opens with anything else is content, as is a list that turns out not to be calls
 * of declared functions with literal keyword arguments (word for word, from the start), and text
 * after the list. Under free decoding the calls come once the list has closed, the arguments of
 * each in one piece; under forced decoding each call starts at its parenthesis and its arguments
 * stream.
 */
final class PythonicToolParser implements ToolParser {

  /** Llama 4's marks around its calls, special tokens of its tokenizer. */
  static final String START = "<|python_start|>";

  static final String END = "<|python_end|>";

  private enum State {
    /** Nothing but whitespace (and the start mark) yet. */
    START,
    /** Inside the list. */
    LIST,
    /** After the list: whitespace and the end mark, then content. */
    AFTER_LIST,
    /** Text. */
    CONTENT
  }

  private final Set<String> names;
  private final ToolCallIds ids;
  private final boolean forced;
  private final StringBuilder pending = new StringBuilder();

  /** The text read since the answer began: content again if it is not calls. */
  private final StringBuilder held = new StringBuilder();

  /** A list's pieces, given out once it closes. */
  private final List<Piece> calls = new ArrayList<>();

  private PythonicCalls list;
  private boolean marked; // <|python_start|> was read
  private State state = State.START;

  PythonicToolParser(Set<String> names, boolean forced, ToolCallIds ids) {
    this.names = Set.copyOf(names);
    this.ids = ids;
    this.forced = forced;
    if (forced) {
      list = new PythonicCalls(names, ids);
    }
  }

  @Override
  public boolean hasCalls() {
    return list != null && (forced ? list.calls() > 0 : list.done());
  }

  @Override
  public List<Piece> feed(String text) {
    List<Piece> out = new ArrayList<>();
    if (forced) {
      // The grammar writes the list and nothing else; should other text come, it is dropped.
      for (int i = 0; i < text.length() && !list.failed(); i++) {
        list.feed(text.charAt(i), out);
      }
      return out;
    }
    pending.append(text);
    while (step(out)) {
      // each step reads what it can
    }
    return out;
  }

  @Override
  public List<Piece> finish() {
    List<Piece> out = new ArrayList<>();
    if (!forced) {
      if (state == State.AFTER_LIST && pending.isEmpty()) {
        held.setLength(0); // whitespace after the list
      }
      content(out, held.toString() + pending);
    }
    pending.setLength(0);
    held.setLength(0);
    return out;
  }

  private boolean step(List<Piece> out) {
    switch (state) {
      case START -> {
        moveToHeld(Markers.leadingWhitespace(pending));
        if (pending.isEmpty()) {
          return false;
        }
        if (!marked && startsWith(START)) {
          moveToHeld(START.length());
          marked = true;
        } else if (!marked && START.startsWith(pending.toString())) {
          return false;
        } else if (pending.charAt(0) == '[') {
          list = new PythonicCalls(names, ids);
          state = State.LIST;
        } else {
          backToContent(out);
        }
        return true;
      }
      case LIST -> {
        int i = 0;
        while (i < pending.length() && !list.done() && !list.failed()) {
          list.feed(pending.charAt(i++), calls);
        }
        moveToHeld(i);
        if (list.failed()) {
          backToContent(out);
          return true;
        }
        if (list.done()) {
          out.addAll(calls);
          calls.clear();
          held.setLength(0);
          state = State.AFTER_LIST;
          return true;
        }
        return false;
      }
      case AFTER_LIST -> {
        moveToHeld(Markers.leadingWhitespace(pending));
        if (pending.isEmpty()) {
          return false;
        }
        if (startsWith(END)) {
          pending.delete(0, END.length());
          held.setLength(0);
        } else if (END.startsWith(pending.toString())) {
          return false;
        } else {
          backToContent(out);
        }
        return true;
      }
      case CONTENT -> {
        content(out, pending.toString());
        pending.setLength(0);
        return false;
      }
      default -> throw new IllegalStateException(state.name());
    }
  }

  private boolean startsWith(String marker) {
    return pending.length() >= marker.length()
        && pending.substring(0, marker.length()).equals(marker);
  }

  /** What was held was not calls: content, and the text from here on. */
  private void backToContent(List<Piece> out) {
    content(out, held.toString());
    held.setLength(0);
    calls.clear();
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
