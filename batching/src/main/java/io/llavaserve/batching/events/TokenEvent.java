package io.llavaserve.batching.events;

import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.TokenLogprob;
import java.util.List;

/** What a request's stream carries: tokens as they are sampled, then exactly one finish. */
public sealed interface TokenEvent permits TokenEvent.Token, TokenEvent.Finished {

  /**
   * A generated token and the text it makes safe to emit (possibly empty: a character split over
   * several tokens, or text held back because it may begin a stop string).
   *
   * @param index 0-based position in the completion
   * @param tokenId the sampled id
   * @param text text to append to the answer
   * @param logprob log-probability of the token (NaN when not requested)
   * @param topLogprobs the most likely alternatives, when requested
   */
  record Token(int index, int tokenId, String text, float logprob, List<TokenLogprob> topLogprobs)
      implements TokenEvent {
    public Token {
      topLogprobs = List.copyOf(topLogprobs);
    }
  }

  /**
   * The end of the stream.
   *
   * @param reason stop, length, abort or error
   * @param usage token counts
   * @param text text released at the end (held-back tail), usually empty
   * @param error a description when the reason is {@code ERROR}, else null
   */
  record Finished(FinishReason reason, Usage usage, String text, String error)
      implements TokenEvent {}
}
