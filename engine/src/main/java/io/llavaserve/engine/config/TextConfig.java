package io.llavaserve.engine.config;

/**
 * The language model's hyper-parameters (a LLaMA-family decoder: LLaMA, Mistral or Qwen2), with the
 * defaults that transformers' config class of that family applies already filled in by the loader.
 *
 * @param hiddenSize model width
 * @param intermediateSize SwiGLU inner width
 * @param numHiddenLayers decoder layers
 * @param numAttentionHeads query heads
 * @param numKeyValueHeads key/value heads (grouped-query attention when fewer than query heads)
 * @param headDim width of one head
 * @param vocabSize rows of the embedding and of the LM head
 * @param rmsNormEps epsilon of every RMSNorm
 * @param ropeTheta base of the rotary frequencies
 * @param maxPositionEmbeddings longest sequence the model was trained for
 * @param hiddenAct activation of the MLP gate ({@code silu} for LLaMA)
 * @param tieWordEmbeddings whether the LM head reuses the input embedding matrix
 * @param family which decoder family the checkpoint names
 * @param qkvBias whether the query, key and value projections have biases (Qwen2; LLaMA with {@code
 *     attention_bias})
 * @param outputBias whether the attention's output projection has a bias (LLaMA with {@code
 *     attention_bias})
 * @param slidingWindow the attention window in tokens when the model attends only to that many
 *     recent positions (Mistral), else 0; served by refusing longer sequences, within which sliding
 *     and full attention agree
 */
public record TextConfig(
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int numKeyValueHeads,
    int headDim,
    int vocabSize,
    double rmsNormEps,
    double ropeTheta,
    int maxPositionEmbeddings,
    String hiddenAct,
    boolean tieWordEmbeddings,
    TextFamily family,
    boolean qkvBias,
    boolean outputBias,
    int slidingWindow) {

  /** A LLaMA decoder without biases or window. */
  public TextConfig(
      int hiddenSize,
      int intermediateSize,
      int numHiddenLayers,
      int numAttentionHeads,
      int numKeyValueHeads,
      int headDim,
      int vocabSize,
      double rmsNormEps,
      double ropeTheta,
      int maxPositionEmbeddings,
      String hiddenAct,
      boolean tieWordEmbeddings) {
    this(
        hiddenSize,
        intermediateSize,
        numHiddenLayers,
        numAttentionHeads,
        numKeyValueHeads,
        headDim,
        vocabSize,
        rmsNormEps,
        ropeTheta,
        maxPositionEmbeddings,
        hiddenAct,
        tieWordEmbeddings,
        TextFamily.LLAMA,
        false,
        false,
        0);
  }

  public TextConfig {
    if (family == null) {
      throw new IllegalArgumentException("text_config: family must not be null");
    }
    if (slidingWindow < 0) {
      throw new IllegalArgumentException("sliding_window must be >= 0, got " + slidingWindow);
    }
    positive("hidden_size", hiddenSize);
    positive("intermediate_size", intermediateSize);
    positive("num_hidden_layers", numHiddenLayers);
    positive("num_attention_heads", numAttentionHeads);
    positive("num_key_value_heads", numKeyValueHeads);
    positive("head_dim", headDim);
    positive("vocab_size", vocabSize);
    positive("max_position_embeddings", maxPositionEmbeddings);
    if (numAttentionHeads % numKeyValueHeads != 0) {
      throw new IllegalArgumentException(
          "text_config: num_attention_heads ("
              + numAttentionHeads
              + ") must be a multiple of num_key_value_heads ("
              + numKeyValueHeads
              + ")");
    }
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException("text_config: head_dim must be even for rotary positions");
    }
    if (!(rmsNormEps > 0)) {
      throw new IllegalArgumentException("text_config: rms_norm_eps must be > 0");
    }
    if (!(ropeTheta > 0)) {
      throw new IllegalArgumentException("text_config: rope_theta must be > 0");
    }
  }

  /**
   * The longest sequence this server runs the model on: {@code max_position_embeddings}, or the
   * sliding window when it is shorter (past it, sliding attention would differ from the full
   * attention the engine computes).
   */
  public int maxContext() {
    return slidingWindow > 0
        ? Math.min(maxPositionEmbeddings, slidingWindow)
        : maxPositionEmbeddings;
  }

  /** This config with another family and its attention details. */
  public TextConfig withFamily(
      TextFamily family, boolean qkvBias, boolean outputBias, int slidingWindow) {
    return new TextConfig(
        hiddenSize,
        intermediateSize,
        numHiddenLayers,
        numAttentionHeads,
        numKeyValueHeads,
        headDim,
        vocabSize,
        rmsNormEps,
        ropeTheta,
        maxPositionEmbeddings,
        hiddenAct,
        tieWordEmbeddings,
        family,
        qkvBias,
        outputBias,
        slidingWindow);
  }

  /** Query heads that share one key/value head. */
  public int groupSize() {
    return numAttentionHeads / numKeyValueHeads;
  }

  static void positive(String field, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException(field + " must be > 0, got " + value);
    }
  }
}
