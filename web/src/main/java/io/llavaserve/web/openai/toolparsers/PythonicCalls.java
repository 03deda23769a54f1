package io.llavaserve.web.openai.toolparsers;

import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads a Python list of calls, {@code [get_weather(city="Oslo", days=[1, 2]), get_time()]}, as it
 * arrives, into calls whose arguments are JSON as Python's {@code json.dumps} writes it ({@code
 * {"city": "Oslo", "days": [1, 2]}}), as vLLM's pythonic parser reads them: each call names a
 * declared function and passes literals by keyword: {@code None}, {@code True}, {@code False},
 * numbers (a sign allowed; hexadecimal, octal, binary and underscores read as Python reads them),
 * strings, lists, and dicts with string or integer keys. A call starts (its {@link
 * ToolParser.CallStart} and {@code {}) at its opening parenthesis, and its arguments follow piece by
 * piece. Anything else (a positional argument, a repeated keyword, a tuple, a variable, an
 * expression, an empty list, text after the closing bracket) fails the text: {@link #failed()}.
 */
final class PythonicCalls {

  /** Names that are values, never keywords. */
  private static final Set<String> LITERALS = Set.of("None", "True", "False");

  /** What holds the values being read. */
  private enum Context {
    CALLS,
    ARGUMENTS,
    LIST,
    DICT
  }

  /** What a context waits for. */
  private enum Expect {
    /** The list of calls' bracket. */
    OPEN,
    /** An item (a call, a keyword, a list's value, a key) or the close. */
    ITEM,
    /** A call's parenthesis, after its name. */
    PARENTHESIS,
    /** {@code =} after a keyword, {@code :} after a key. */
    ASSIGN,
    /** A value, after {@code =} or {@code :}. */
    VALUE,
    /** A comma or the close, after an item. */
    SEPARATOR
  }

  private static final class Frame {
    final Context context;
    Expect expect;
    boolean items; // an item was written: the next needs ", "
    boolean comma; // a comma was read after the last item

    Frame(Context context, Expect expect) {
      this.context = context;
      this.expect = expect;
    }
  }

  private final Set<String> names;
  private final ToolCallIds ids;
  private final PythonTokens tokens = new PythonTokens();
  private final Deque<Frame> stack = new ArrayDeque<>();
  private final List<PythonTokens.Token> read = new ArrayList<>();
  private final Set<String> keywords = new HashSet<>();
  private String callName;
  private char sign; // '-' or '+' read before a number; 0 when none
  private boolean inString;
  private boolean stringIsKey;
  private char highSurrogate; // of a string, waiting for its low half
  private boolean failed;
  private boolean done;
  private int calls;

  /**
   * @param names the functions a call may name
   * @param ids what the calls' ids look like
   */
  PythonicCalls(Set<String> names, ToolCallIds ids) {
    this.names = Set.copyOf(names);
    this.ids = ids;
    stack.push(new Frame(Context.CALLS, Expect.OPEN));
  }

  /** Whether the text is not a list of calls. */
  boolean failed() {
    return failed;
  }

  /** Whether the list closed, holding at least one call. */
  boolean done() {
    return done;
  }

  /** The calls started so far. */
  int calls() {
    return calls;
  }

  /** The pieces {@code c} completes, into {@code out}; whitespace only once done. */
  void feed(char c, List<ToolParser.Piece> out) {
    if (failed) {
      return;
    }
    if (done) {
      failed = !Character.isWhitespace(c);
      return;
    }
    read.clear();
    tokens.feed(c, read);
    if (tokens.failed()) {
      failed = true;
      return;
    }
    for (int i = 0; i < read.size() && !failed; i++) {
      token(read.get(i), out);
    }
  }

  private void token(PythonTokens.Token t, List<ToolParser.Piece> out) {
    if (inString) {
      string(t, out);
      return;
    }
    if (sign != 0 && !(t instanceof PythonTokens.Number)) {
      failed = true; // a sign before something other than a number
      return;
    }
    Frame f = stack.peek();
    switch (f.expect) {
      case OPEN -> {
        if (isPunct(t, '[')) {
          f.expect = Expect.ITEM;
        } else {
          failed = true;
        }
      }
      case ITEM -> item(f, t, out);
      case PARENTHESIS -> {
        if (!isPunct(t, '(')) {
          failed = true;
          return;
        }
        out.add(new ToolParser.CallStart(calls, ids.newId(), callName));
        write("{", out);
        keywords.clear();
        f.expect = Expect.SEPARATOR;
        stack.push(new Frame(Context.ARGUMENTS, Expect.ITEM));
      }
      case ASSIGN -> {
        boolean dict = f.context == Context.DICT;
        if (isPunct(t, dict ? ':' : '=')) {
          if (dict) {
            write(": ", out); // a keyword's was written with its name
          }
          f.expect = Expect.VALUE;
        } else {
          failed = true;
        }
      }
      case VALUE -> value(f, t, "", out);
      case SEPARATOR -> {
        if (isPunct(t, ',')) {
          f.comma = true;
          f.expect = Expect.ITEM;
        } else if (!close(f, t, out)) {
          failed = true;
        }
      }
    }
  }

  /** An item of {@code f}, or its close. */
  private void item(Frame f, PythonTokens.Token t, List<ToolParser.Piece> out) {
    // A close right after the open is an empty container; after a comma, a trailing comma.
    if ((f.comma || f.context != Context.CALLS) && close(f, t, out)) {
      return;
    }
    String comma = f.items ? ", " : "";
    switch (f.context) {
      case CALLS -> {
        if (t instanceof PythonTokens.Name n && names.contains(n.text())) {
          callName = n.text();
          f.expect = Expect.PARENTHESIS;
        } else {
          failed = true; // an empty list, or not a call of a declared function
        }
      }
      case ARGUMENTS -> {
        if (t instanceof PythonTokens.Name n
            && !LITERALS.contains(n.text())
            && keywords.add(n.text())) {
          write(comma + JsonText.quote(n.text()) + ": ", out);
          f.items = true;
          f.expect = Expect.ASSIGN;
        } else {
          failed = true; // a positional argument, or a keyword repeated
        }
      }
      case DICT -> {
        if (t instanceof PythonTokens.StringStart) {
          write(comma + "\"", out);
          inString = true;
          stringIsKey = true;
        } else if (t instanceof PythonTokens.Number n && PythonNumbers.integer(n.text()) != null) {
          write(comma + JsonText.quote(PythonNumbers.integer(n.text())), out);
          f.expect = Expect.ASSIGN;
        } else {
          failed = true;
        }
        f.items = true;
      }
      case LIST -> value(f, t, comma, out);
    }
    f.comma = false;
  }

  /** A value at {@code f}'s place, after {@code comma}; then {@code f} waits for a separator. */
  private void value(Frame f, PythonTokens.Token t, String comma, List<ToolParser.Piece> out) {
    if (t instanceof PythonTokens.Name n) {
      String literal =
          switch (n.text()) {
            case "None" -> "null";
            case "True" -> "true";
            case "False" -> "false";
            default -> null;
          };
      if (literal == null) {
        failed = true; // a variable
        return;
      }
      write(comma + literal, out);
    } else if (t instanceof PythonTokens.Punct p && (p.c() == '-' || p.c() == '+')) {
      sign = p.c();
      return;
    } else if (t instanceof PythonTokens.Number n) {
      String number = PythonNumbers.json(n.text());
      if (number == null) {
        failed = true;
        return;
      }
      write(comma + (sign == '-' ? "-" : "") + number, out);
      sign = 0;
    } else if (t instanceof PythonTokens.StringStart) {
      write(comma + "\"", out);
      inString = true;
      stringIsKey = false;
    } else if (isPunct(t, '[') || isPunct(t, '{')) {
      boolean list = isPunct(t, '[');
      write(comma + (list ? "[" : "{"), out);
      f.items = true;
      f.expect = Expect.SEPARATOR;
      stack.push(new Frame(list ? Context.LIST : Context.DICT, Expect.ITEM));
      return;
    } else {
      failed = true;
      return;
    }
    f.items = true;
    f.expect = Expect.SEPARATOR;
  }

  /** Inside a string: its text, or its end. */
  private void string(PythonTokens.Token t, List<ToolParser.Piece> out) {
    if (t instanceof PythonTokens.StringText s) {
      StringBuilder json = new StringBuilder();
      for (int i = 0; i < s.text().length(); i++) {
        char c = s.text().charAt(i);
        if (highSurrogate != 0) {
          if (Character.isLowSurrogate(c)) {
            json.append(highSurrogate).append(c);
            highSurrogate = 0;
            continue;
          }
          JsonText.escape(highSurrogate, json);
          highSurrogate = 0;
        }
        if (Character.isHighSurrogate(c)) {
          highSurrogate = c;
        } else {
          JsonText.escape(c, json);
        }
      }
      write(json.toString(), out);
      return;
    }
    // StringEnd: the lexer sends nothing else inside a string
    if (highSurrogate != 0) {
      StringBuilder json = new StringBuilder();
      JsonText.escape(highSurrogate, json);
      write(json.toString(), out);
      highSurrogate = 0;
    }
    write("\"", out);
    inString = false;
    Frame f = stack.peek();
    f.expect = stringIsKey ? Expect.ASSIGN : Expect.SEPARATOR;
  }

  /** Closes {@code f} when {@code t} is its bracket; false when it is not. */
  private boolean close(Frame f, PythonTokens.Token t, List<ToolParser.Piece> out) {
    switch (f.context) {
      case CALLS -> {
        if (!isPunct(t, ']') || calls == 0) {
          return false;
        }
        done = true;
      }
      case ARGUMENTS -> {
        if (!isPunct(t, ')')) {
          return false;
        }
        write("}", out);
        stack.pop();
        calls++;
      }
      case LIST, DICT -> {
        char bracket = f.context == Context.LIST ? ']' : '}';
        if (!isPunct(t, bracket)) {
          return false;
        }
        write(String.valueOf(bracket), out);
        stack.pop();
      }
    }
    return true;
  }

  private void write(String json, List<ToolParser.Piece> out) {
    if (json.isEmpty()) {
      return;
    }
    int index = calls; // the call being read: calls counts those closed
    if (!out.isEmpty() && out.get(out.size() - 1) instanceof ToolParser.Arguments a) {
      out.set(out.size() - 1, new ToolParser.Arguments(index, a.fragment() + json));
    } else {
      out.add(new ToolParser.Arguments(index, json));
    }
  }

  private static boolean isPunct(PythonTokens.Token t, char c) {
    return t instanceof PythonTokens.Punct p && p.c() == c;
  }
}
