package io.llavaserve.engine.generate;

import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.RowOutput;
import io.llavaserve.engine.sampling.RowSampling;
import io.llavaserve.engine.sampling.SampledToken;
import io.llavaserve.engine.sampling.Sampler;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.sampling.StopChecker;
import io.llavaserve.engine.sampling.StopCondition;
import io.llavaserve.engine.sampling.constraint.GrammarMatcher;
import io.llavaserve.engine.sampling.constraint.GrammarMatchers;
import io.llavaserve.engine.tokenizer.IncrementalDetokenizer;
import java.util.Arrays;
import java.util.Optional;

/**
 * What happens to one sequence's step output: the token is sampled, recorded, detokenised, checked
 * against the stop strings and the stop condition. The serving engine and {@link Generator} both
 * run every token through one of these, so they cannot drift apart.
 *
 * <p>A request with a grammar ({@link SamplingParams#grammar()}) samples each token with its
 * matcher's mask applied (on the device for greedy and plain temperature sampling, on the whole row
 * otherwise), and finishes with {@code stop} as soon as its value is complete and nothing can
 * extend it (end-of-sequence would be the only token allowed), or when end-of-sequence is sampled
 * after a complete value, even with {@code ignore_eos}.
 *
 * <p>Not thread-safe: owned by whoever steps the sequence.
 */
public final class OutputProcessor {

  /**
   * One appended token.
   *
   * @param token the token and its logprobs
   * @param index its position among the output tokens
   * @param text the text it releases (empty for a stop token, or while a stop string may start)
   * @param finish why the sequence ends here, if it does
   */
  public record Appended(
      SampledToken token, int index, String text, Optional<FinishReason> finish) {}

  private final int promptLength;
  private final Sampler sampler;
  private final StopCondition stop;
  private final StopChecker stopStrings;
  private final IncrementalDetokenizer detokenizer;
  private final GrammarMatchers grammars;
  private GrammarMatcher matcher; // made on the first token, on the thread that steps
  private int[] output = new int[16];
  private int outputLength;

  /**
   * @param params the request's sampling parameters
   * @param prompt the expanded prompt's token ids (seen by the repetition penalty)
   * @param eosTokenId the tokenizer's EOS id, or -1
   * @param maxModelLen prompt plus output may not exceed it
   * @param detokenizer a fresh detokenizer of the model's tokenizer
   */
  public OutputProcessor(
      SamplingParams params,
      int[] prompt,
      int eosTokenId,
      int maxModelLen,
      IncrementalDetokenizer detokenizer) {
    this(params, prompt, eosTokenId, maxModelLen, detokenizer, null);
  }

  /**
   * @param grammars makes the matcher of a constrained request; may be null when {@code params} has
   *     no grammar
   */
  public OutputProcessor(
      SamplingParams params,
      int[] prompt,
      int eosTokenId,
      int maxModelLen,
      IncrementalDetokenizer detokenizer,
      GrammarMatchers grammars) {
    if (params.grammar().isPresent() && grammars == null) {
      throw new IllegalArgumentException("a request with a grammar needs grammar matchers");
    }
    this.grammars = params.grammar().isPresent() ? grammars : null;
    this.promptLength = prompt.length;
    this.sampler = new Sampler(params, prompt);
    this.stop = new StopCondition(params, eosTokenId, maxModelLen);
    this.stopStrings = new StopChecker(params.stop());
    this.detokenizer = detokenizer;
  }

  /** What the step that produces the next token must compute for it. */
  public RowSampling next(int vocabSize) {
    GrammarMatcher m = matcher();
    return sampler.next(vocabSize, m == null ? null : m.allowed());
  }

  /** Samples the next token from {@code row} and says what it releases and whether it ends. */
  public Appended append(RowOutput row) {
    GrammarMatcher m = matcher();
    SampledToken tok = m == null ? sampler.sample(row) : sampler.sample(row, m.allowed());
    if (m != null) {
      m.accept(tok.tokenId());
    }
    sampler.accept(tok.tokenId());
    if (outputLength == output.length) {
      output = Arrays.copyOf(output, output.length * 2);
    }
    output[outputLength++] = tok.tokenId();
    boolean matched = false;
    String text = "";
    if (!stop.isStopToken(tok.tokenId())) {
      StopChecker.Chunk piece = stopStrings.append(detokenizer.next(tok.tokenId()));
      text = piece.text();
      matched = piece.stopped();
    }
    Optional<FinishReason> finish =
        m != null && (m.isEnded() || (m.isComplete() && !m.canContinue()))
            ? Optional.of(FinishReason.STOP)
            : stop.check(tok.tokenId(), outputLength, promptLength + outputLength, matched);
    return new Appended(tok, outputLength - 1, text, finish);
  }

  /**
   * The text held back when the sequence ends for {@code reason}: what the detokenizer and the
   * stop-string window still hold, unless a stop string already ended it or it was cut off.
   */
  public String finish(FinishReason reason) {
    if (reason == FinishReason.ERROR || reason == FinishReason.ABORT || stopStrings.stopped()) {
      return "";
    }
    StopChecker.Chunk last = stopStrings.append(detokenizer.flush());
    return last.text() + (last.stopped() ? "" : stopStrings.flush());
  }

  private GrammarMatcher matcher() {
    if (matcher == null && grammars != null) {
      matcher = grammars.matcher(sampler.params().grammar().get());
    }
    return matcher;
  }

  /** The grammar's matcher of a constrained request (made on first use), or null. */
  public GrammarMatcher grammarMatcher() {
    return matcher();
  }

  public int outputLength() {
    return outputLength;
  }

  /** Output token {@code i}. */
  public int outputToken(int i) {
    return output[i];
  }

  public int[] outputTokens() {
    return Arrays.copyOf(output, outputLength);
  }
}
