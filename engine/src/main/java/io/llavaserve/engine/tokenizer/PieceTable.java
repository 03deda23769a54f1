package io.llavaserve.engine.tokenizer;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The id-to-piece lookups of a BPE tokenizer: its added tokens first, then its model's vocabulary,
 * and the bytes each vocabulary piece adds to the text (what constrained decoding matches).
 */
final class PieceTable {

  private final BpeModel model;
  private final TokenDecoder decoder;
  private final Map<Integer, AddedToken> byId = new HashMap<>();
  private final Map<String, AddedToken> byContent = new HashMap<>();

  PieceTable(BpeModel model, Collection<AddedToken> added, TokenDecoder decoder) {
    this.model = model;
    this.decoder = decoder;
    for (AddedToken t : added) {
      byId.put(t.id(), t);
      byContent.putIfAbsent(t.content(), t);
    }
  }

  /** The id of an added token's text or of a vocabulary piece. */
  OptionalInt id(String token) {
    AddedToken added = byContent.get(token);
    if (added != null) {
      return OptionalInt.of(added.id());
    }
    Integer id = model.id(token);
    return id == null ? OptionalInt.empty() : OptionalInt.of(id);
  }

  /** An added token's text or a vocabulary piece, or null outside both. */
  String piece(int id) {
    AddedToken added = byId.get(id);
    return added != null ? added.content() : model.piece(id);
  }

  boolean isSpecial(int id) {
    AddedToken added = byId.get(id);
    return added != null && added.special();
  }

  /** A vocabulary piece's bytes; null for added tokens and ids outside the vocabulary. */
  byte[] bytes(int id) {
    if (byId.containsKey(id)) {
      return null;
    }
    String piece = model.piece(id);
    return piece == null ? null : decoder.bytesOf(piece);
  }
}
