package io.llavaserve.engine.tokenizer;

import java.util.OptionalInt;

/**
 * Text to token ids and back, for one model's vocabulary. Implementations are immutable and safe to
 * share between threads; streaming decode state lives in {@link IncrementalDetokenizer}.
 */
public interface Tokenizer {

  /** Encodes text, adding BOS/EOS as the tokenizer's configuration says. */
  int[] encode(String text);

  /**
   * Encodes text. Added tokens written literally in the text (such as {@code <image>}) become their
   * ids either way.
   *
   * @param addSpecialTokens whether to add the configured BOS/EOS around the text
   */
  int[] encode(String text, boolean addSpecialTokens);

  /** Decodes ids to text; ids outside the vocabulary are ignored. */
  String decode(int[] ids, boolean skipSpecialTokens);

  /** Starts a streaming decode whose output concatenates to {@link #decode}. */
  IncrementalDetokenizer newDetokenizer(boolean skipSpecialTokens);

  /** Number of ids, added tokens included. */
  int vocabSize();

  /** Id of the beginning-of-sequence token, or -1 when there is none. */
  int bosId();

  /** Id of the end-of-sequence token, or -1 when there is none. */
  int eosId();

  /** The id of a vocabulary piece (such as {@code "▁the"}) or of an added token's text. */
  OptionalInt tokenId(String token);

  /** The piece or added-token text of an id, or null when the id is not in the vocabulary. */
  String tokenPiece(int id);

  /** Whether the id is an added token marked special (skipped by decode when asked). */
  boolean isSpecial(int id);

  /**
   * The UTF-8 bytes this id adds to the decoded text when it stands in the middle of a sequence (a
   * byte-fallback token: its one byte, possibly part of a character), or null for an added or
   * special token and for an id outside the vocabulary. What constrained decoding matches.
   */
  byte[] tokenBytes(int id);
}
