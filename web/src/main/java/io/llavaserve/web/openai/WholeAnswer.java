package io.llavaserve.web.openai;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.Usage;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Gathers one request's token events into the JSON object a non-streaming answer carries ({@code
 * chat.completion} or {@code text_completion}), one choice per {@code n}, in index order; used by
 * the HTTP answer and by batch jobs so both give the same body. Usage counts the prompt once and
 * sums the choices' completion tokens.
 */
public final class WholeAnswer {

  private final ResponseFormat format;
  private final boolean logprobs;
  private final Map<Integer, StringBuilder> texts = new TreeMap<>();
  private final Map<Integer, List<TokenEvent.Token>> tokens = new TreeMap<>();
  private final List<ResponseFormat.Choice> finished = new ArrayList<>();
  private int completionTokens;

  /**
   * @param format the answer's shape, from its endpoint
   * @param logprobs whether the answer reports logprobs
   */
  public WholeAnswer(ResponseFormat format, boolean logprobs) {
    this.format = format;
    this.logprobs = logprobs;
  }

  public void add(TokenEvent.Token token) {
    texts.computeIfAbsent(token.choice(), c -> new StringBuilder()).append(token.text());
    if (logprobs) {
      tokens.computeIfAbsent(token.choice(), c -> new ArrayList<>()).add(token);
    }
  }

  /**
   * Ends one choice; after the {@link TokenEvent.Finished#last() last} one, the whole answer, else
   * null. No finish may carry an engine error.
   */
  public JsonObject finish(TokenEvent.Finished f) {
    String text = texts.getOrDefault(f.choice(), new StringBuilder()).append(f.text()).toString();
    finished.add(
        new ResponseFormat.Choice(
            f.choice(), text, f.reason(), tokens.getOrDefault(f.choice(), List.of())));
    completionTokens += f.usage().completionTokens();
    if (!f.last()) {
      return null;
    }
    finished.sort((a, b) -> Integer.compare(a.index(), b.index()));
    Usage usage =
        new Usage(f.usage().promptTokens(), f.usage().cachedPromptTokens(), completionTokens);
    return format.completion(finished, usage);
  }
}
