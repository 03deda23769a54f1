package io.llavaserve.batching.events;

import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import java.util.List;

/**
 * What a request's stream carries: tokens as they are sampled, then one finish per choice; a
 * request for {@code n} choices interleaves its choices' events, each naming its choice, and its
 * stream ends with the finish marked {@link Finished#last()}.
 */
public sealed interface TokenEvent permits TokenEvent.Token, TokenEvent.Finished {

  /**
   * A generated token and the text it makes safe to emit (possibly empty: a character split over
   * several tokens, or text held back because it may begin a stop string).
   *
   * @param choice which of the request's choices (OpenAI's {@code choices[i].index}), from 0
   * @param index 0-based position in the completion
   * @param tokenId the sampled id
   * @param text text to append to the answer
   * @param logprob log-probability of the token (NaN when not requested)
   * @param topLogprobs the most likely alternatives, when requested
   */
  record Token(
      int choice,
      int index,
      int tokenId,
      String text,
      float logprob,
      List<TokenLogprob> topLogprobs)
      implements TokenEvent {
    public Token {
      if (choice < 0) {
        throw new IllegalArgumentException("choice must be >= 0, got " + choice);
      }
      topLogprobs = List.copyOf(topLogprobs);
    }

    /** A token of choice 0. */
    public Token(int index, int tokenId, String text, float logprob, List<TokenLogprob> top) {
      this(0, index, tokenId, text, logprob, top);
    }
  }

  /**
   * The end of one choice; the end of the stream when {@code last}.
   *
   * @param choice which choice ended
   * @param last whether every choice of the request has now ended (the stream's last event)
   * @param reason stop, length, abort or error
   * @param usage token counts of this choice (each choice reports the whole prompt)
   * @param text text released at the end (held-back tail), usually empty
   * @param error a description when the reason is {@code ERROR}, else null
   */
  record Finished(
      int choice, boolean last, FinishReason reason, Usage usage, String text, String error)
      implements TokenEvent {
    public Finished {
      if (choice < 0) {
        throw new IllegalArgumentException("choice must be >= 0, got " + choice);
      }
    }

    /** The end of a single-choice stream. */
    public Finished(FinishReason reason, Usage usage, String text, String error) {
      this(0, true, reason, usage, text, error);
    }

    /** This event, marked as the stream's last or not. */
    public Finished withLast(boolean isLast) {
      return isLast == last ? this : new Finished(choice, isLast, reason, usage, text, error);
    }
  }
}
