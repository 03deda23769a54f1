package io.llavaserve.web.openai.toolparsers;

import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads a chat answer's text, as it streams, into content and tool calls in the format its model
 * writes them ({@link ToolCallFormat}), as vLLM's tool parsers do. Text that could still be the
 * start of a call is held back until it is decided; nothing of a call's markup reaches the content.
 *
 * <ul>
 *   <li>Free decoding ({@code tool_choice} auto): a call becomes one once its JSON is complete and
 *       is an object naming a declared function with an object of arguments; its arguments come in
 *       one piece. Anything else stays content, word for word, markup included, as does a call the
 *       answer never finishes.
 *   <li>Forced decoding (required, a named function): the grammar guarantees the calls, so a call
 *       starts as soon as its name is read and its arguments stream as they come ({@link
 *       ForcedCalls}).
 * </ul>
 *
 * The arguments of a call are the text the model wrote for them. Feeding the whole text at once
 * gives the same pieces, joined, as feeding it in pieces of any size; one instance per answer.
 */
public interface ToolParser {

  /** What a piece of the answer turned out to be. */
  sealed interface Piece permits Content, CallStart, Arguments {}

  /** Text for the answer's content. */
  record Content(String text) implements Piece {}

  /** A call begins: OpenAI's first tool-call delta, with its arguments still to come. */
  record CallStart(int index, String id, String name) implements Piece {}

  /** More of call {@code index}'s arguments. */
  record Arguments(int index, String fragment) implements Piece {}

  /** A whole call, for an answer that does not stream. */
  record Call(String id, String name, String arguments) {}

  /**
   * A whole answer.
   *
   * @param content the text outside calls; null when there are calls and it is blank
   */
  record Parsed(String content, List<Call> calls) {}

  /** The pieces {@code text} decides, in order. */
  List<Piece> feed(String text);

  /** The end of the answer: what was held back. */
  List<Piece> finish();

  /** Whether some call was found so far. */
  boolean hasCalls();

  /**
   * A parser of answers in {@code format}.
   *
   * @param names the functions a call may name
   * @param forced whether a grammar forces the calls
   * @param ids what the calls' ids look like
   */
  static ToolParser of(ToolCallFormat format, Set<String> names, boolean forced, ToolCallIds ids) {
    return switch (format) {
      case HERMES -> new HermesToolParser(names, forced, ids);
      case LLAMA3_JSON -> new Llama3JsonToolParser(names, forced, ids);
      case MISTRAL -> new MistralToolParser(names, forced, ids);
      case MISTRAL_V11 -> new MistralV11ToolParser(names, forced, ids);
      case PYTHONIC -> new PythonicToolParser(names, forced, ids);
      case NONE -> throw new IllegalArgumentException("tool calls are not read in format none");
    };
  }

  /** Reads a whole answer with {@code parser}, a fresh one. */
  static Parsed parse(ToolParser parser, String text) {
    List<Piece> pieces = new ArrayList<>(parser.feed(text));
    pieces.addAll(parser.finish());
    StringBuilder content = new StringBuilder();
    List<String> ids = new ArrayList<>();
    List<String> names = new ArrayList<>();
    List<StringBuilder> args = new ArrayList<>();
    for (Piece p : pieces) {
      if (p instanceof Content c) {
        content.append(c.text());
      } else if (p instanceof CallStart c) {
        ids.add(c.id());
        names.add(c.name());
        args.add(new StringBuilder());
      } else if (p instanceof Arguments a) {
        args.get(a.index()).append(a.fragment());
      }
    }
    List<Call> calls = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      calls.add(new Call(ids.get(i), names.get(i), args.get(i).toString()));
    }
    String rest = content.toString();
    return new Parsed(!calls.isEmpty() && rest.isBlank() ? null : rest, calls);
  }
}
