package io.llavaserve.web.openai.toolparsers;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.prompt.ToolCallIds;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The calls of an answer that a grammar forces ({@code ToolCallGrammar}), read as they stream: the
 * format's literals are stepped over with the whitespace around them, a call starts once its name
 * is read, and its arguments stream as they come. The grammar lets nothing else through, so there
 * is never content; should text the layout does not expect come all the same, it and the rest are
 * dropped.
 */
final class ForcedCalls {

  /**
   * Where the literals of a format's calls go.
   *
   * @param start before the first call ({@code [TOOL_CALLS]}, {@code [})
   * @param open before each call's head ({@code <tool_call>})
   * @param head a call's head up to its arguments, anchored at its start, the name its group 1
   * @param quotedName whether that name is a JSON string (else the name itself)
   * @param close after each call's arguments ({@code }}, {@code </tool_call>})
   * @param separator between calls ({@code ;}, {@code ,}), or empty when a call's opening follows
   *     the last one's close
   * @param end after the last call ({@code ]})
   */
  record Layout(
      List<String> start,
      List<String> open,
      Pattern head,
      boolean quotedName,
      List<String> close,
      String separator,
      List<String> end) {

    /**
     * The layout of calls written as JSON objects, the name first, as the grammar writes them:
     * {@code {"name": "f", "<argumentsKey>": ...}}.
     */
    static Layout json(
        List<String> start,
        List<String> open,
        String argumentsKey,
        List<String> close,
        String separator,
        List<String> end) {
      Pattern head =
          Pattern.compile(
              "\\A\\s*\\{\\s*\"name\"\\s*:\\s*(\"(?:[^\"\\\\]|\\\\.)*\")\\s*,\\s*\""
                  + argumentsKey
                  + "\"\\s*:");
      return new Layout(start, open, head, true, close, separator, end);
    }
  }

  private enum Phase {
    START,
    OPEN,
    HEAD,
    ARGUMENTS,
    CLOSE,
    NEXT,
    END,
    DONE
  }

  private enum Step {
    READ,
    WAIT,
    WRONG
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Layout layout;
  private final Pattern head;
  private final ToolCallIds ids;
  private final StringBuilder pending = new StringBuilder();
  private Phase phase = Phase.START;
  private int literal; // the next literal of the phase's list
  private JsonValueScanner arguments;
  private int calls;

  ForcedCalls(Layout layout, ToolCallIds ids) {
    this.layout = layout;
    this.head = layout.head();
    this.ids = ids;
  }

  int calls() {
    return calls;
  }

  List<ToolParser.Piece> feed(String text) {
    pending.append(text);
    List<ToolParser.Piece> out = new ArrayList<>();
    while (step(out)) {
      // each step reads what it can
    }
    return out;
  }

  /** Reads one element of the layout; false when it needs more text (or the answer went wrong). */
  private boolean step(List<ToolParser.Piece> out) {
    switch (phase) {
      case START -> {
        return literals(layout.start(), Phase.OPEN);
      }
      case OPEN -> {
        return literals(layout.open(), Phase.HEAD);
      }
      case HEAD -> {
        Matcher m = head.matcher(pending);
        if (!m.lookingAt()) {
          return m.hitEnd() ? false : wrong(); // more text may still make it a head
        }
        String name = m.group(1);
        if (layout.quotedName()) {
          try {
            name = JSON.readValue(name, String.class);
          } catch (IOException e) {
            // the grammar wrote it, so it is a JSON string; keep the text should it not be
          }
        }
        out.add(new ToolParser.CallStart(calls, ids.newId(), name));
        pending.delete(0, m.end());
        arguments = new JsonValueScanner();
        phase = Phase.ARGUMENTS;
        return true;
      }
      case ARGUMENTS -> {
        String text = pending.toString();
        pending.setLength(0);
        String taken = arguments.take(text);
        if (!taken.isEmpty()) {
          out.add(new ToolParser.Arguments(calls, taken));
        }
        if (!arguments.done()) {
          return false;
        }
        pending.append(text.substring(arguments.consumed()));
        calls++;
        phase = Phase.CLOSE;
        literal = 0;
        return true;
      }
      case CLOSE -> {
        return literals(layout.close(), Phase.NEXT);
      }
      case NEXT -> {
        skipWhitespace();
        if (pending.isEmpty()) {
          return false;
        }
        String next = !layout.separator().isEmpty() ? layout.separator() : first(layout.open());
        String last = first(layout.end());
        if (next != null && startsWith(next)) {
          if (!layout.separator().isEmpty()) {
            pending.delete(0, next.length());
          }
          phase = Phase.OPEN;
          literal = 0;
          return true;
        }
        if (last != null && startsWith(last)) {
          phase = Phase.END;
          literal = 0;
          return true;
        }
        boolean maybe =
            next != null && next.startsWith(pending.toString())
                || last != null && last.startsWith(pending.toString());
        return maybe ? false : wrong();
      }
      case END -> {
        return literals(layout.end(), Phase.DONE);
      }
      default -> {
        pending.setLength(0);
        return false;
      }
    }
  }

  /** Steps over {@code list}'s literals from the next one; then the phase is {@code then}. */
  private boolean literals(List<String> list, Phase then) {
    while (literal < list.size()) {
      switch (expect(list.get(literal))) {
        case READ -> literal++;
        case WAIT -> {
          return false;
        }
        case WRONG -> {
          return wrong();
        }
      }
    }
    phase = then;
    literal = 0;
    return true;
  }

  private Step expect(String literal) {
    skipWhitespace();
    if (startsWith(literal)) {
      pending.delete(0, literal.length());
      return Step.READ;
    }
    return literal.startsWith(pending.toString()) ? Step.WAIT : Step.WRONG;
  }

  private boolean startsWith(String literal) {
    return pending.length() >= literal.length()
        && pending.substring(0, literal.length()).equals(literal);
  }

  private void skipWhitespace() {
    int i = 0;
    while (i < pending.length() && Character.isWhitespace(pending.charAt(i))) {
      i++;
    }
    pending.delete(0, i);
  }

  private boolean wrong() {
    phase = Phase.DONE;
    pending.setLength(0);
    return false;
  }

  private static String first(List<String> list) {
    return list.isEmpty() ? null : list.get(0);
  }
}
