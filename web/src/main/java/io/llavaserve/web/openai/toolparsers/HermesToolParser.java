package io.llavaserve.web.openai.toolparsers;

import static io.llavaserve.engine.prompt.ToolPrompt.CALL_CLOSE;
import static io.llavaserve.engine.prompt.ToolPrompt.CALL_OPEN;

import io.llavaserve.engine.prompt.ToolCallIds;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The Hermes / Qwen2.5 format (vLLM's {@code hermes}): {@code <tool_call>{"name": ..., "arguments":
 * {...}}</tool_call>} blocks, text around them. Under free decoding a block becomes a call once it
 * is closed and its JSON is a call of a declared function; any other block stays content, tags
 * included, as does a block the answer never closes.
 */
final class HermesToolParser implements ToolParser {

  static final ForcedCalls.Layout LAYOUT =
      ForcedCalls.Layout.json(
          List.of(), List.of(CALL_OPEN), "arguments", List.of("}", CALL_CLOSE), "", List.of());

  private final CallReader reader;
  private final ForcedCalls forced;
  private final StringBuilder pending = new StringBuilder();
  private boolean inBlock;
  private int calls;

  HermesToolParser(Set<String> names, boolean forced, ToolCallIds ids) {
    this.reader = new CallReader(names, Set.of("arguments"), Set.of(), ids);
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
    boolean progress = true;
    while (progress) {
      progress = inBlock ? block(out) : outside(out);
    }
    return out;
  }

  @Override
  public List<Piece> finish() {
    List<Piece> out = new ArrayList<>();
    if (forced == null && !pending.isEmpty()) {
      content(out, inBlock ? CALL_OPEN + pending : pending.toString());
    }
    pending.setLength(0);
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
    int keep = Markers.heldBack(pending, CALL_OPEN);
    content(out, pending.substring(0, pending.length() - keep));
    pending.delete(0, pending.length() - keep);
    return false;
  }

  private boolean block(List<Piece> out) {
    int close = pending.indexOf(CALL_CLOSE);
    if (close < 0) {
      return false;
    }
    String body = pending.substring(0, close);
    pending.delete(0, close + CALL_CLOSE.length());
    inBlock = false;
    Call call = reader.read(body);
    if (call == null) {
      content(out, CALL_OPEN + body + CALL_CLOSE);
    } else {
      out.add(new CallStart(calls, call.id(), call.name()));
      out.add(new Arguments(calls, call.arguments()));
      calls++;
    }
    return true;
  }

  private static void content(List<Piece> out, String text) {
    if (!text.isEmpty()) {
      out.add(new Content(text));
    }
  }
}
