package io.llavaserve.engine.sampling;

import java.util.Arrays;
import java.util.BitSet;

/**
 * What changes a row of logits before sampling, in vLLM's order: the request's logit bias, then the
 * penalties over the token history they read (which ids occur in the prompt, and how often each id
 * was generated). Only biased and seen ids are visited, so the cost grows with them, not with the
 * vocabulary.
 */
final class Penalties {

  private final float repetition;
  private final float presence;
  private final float frequency;
  private final BitSet inPrompt = new BitSet();
  private final int[] promptDistinct;
  private int[] outputCounts = new int[0]; // indexed by token id, grown on demand
  private int[] outputDistinct = new int[16];
  private int numOutputDistinct;
  private final int[] biasIds;
  private final float[] biases;

  Penalties(SamplingParams params, int[] promptTokenIds) {
    biasIds = new int[params.logitBias().size()];
    biases = new float[biasIds.length];
    int b = 0;
    for (var e : new java.util.TreeMap<>(params.logitBias()).entrySet()) {
      biasIds[b] = e.getKey();
      biases[b++] = e.getValue().floatValue();
    }
    repetition = (float) params.repetitionPenalty();
    presence = (float) params.presencePenalty();
    frequency = (float) params.frequencyPenalty();
    for (int id : promptTokenIds) {
      if (id >= 0) {
        inPrompt.set(id);
      }
    }
    promptDistinct = inPrompt.stream().toArray();
  }

  /** Records one generated token. */
  void accept(int tokenId) {
    if (tokenId < 0) {
      throw new IllegalArgumentException("token id must be >= 0, got " + tokenId);
    }
    if (tokenId >= outputCounts.length) {
      outputCounts = Arrays.copyOf(outputCounts, Math.max(tokenId + 1, outputCounts.length * 2));
    }
    if (outputCounts[tokenId]++ == 0) {
      if (numOutputDistinct == outputDistinct.length) {
        outputDistinct = Arrays.copyOf(outputDistinct, numOutputDistinct * 2);
      }
      outputDistinct[numOutputDistinct++] = tokenId;
    }
  }

  int count(int tokenId) {
    return tokenId < outputCounts.length ? outputCounts[tokenId] : 0;
  }

  /** Whether {@link #apply} would change any logit. */
  boolean active() {
    boolean repeats = repetition != 1f && (promptDistinct.length > 0 || numOutputDistinct > 0);
    boolean outputs = (presence != 0f || frequency != 0f) && numOutputDistinct > 0;
    return repeats || outputs || biasIds.length > 0;
  }

  /**
   * Changes {@code logits[offset .. offset + vocabSize)} in place, in vLLM's order: the logit bias,
   * the repetition penalty over prompt and output ids (positive logits divided, the others
   * multiplied), then {@code logit -= frequency * count} and {@code logit -= presence} over output
   * ids. Ids outside the vocabulary (such as placeholders) are ignored.
   */
  void apply(float[] logits, int offset, int vocabSize) {
    for (int j = 0; j < biasIds.length; j++) {
      if (biasIds[j] < vocabSize) {
        logits[offset + biasIds[j]] += biases[j];
      }
    }
    if (repetition != 1f) {
      for (int id : promptDistinct) {
        if (id < vocabSize) {
          logits[offset + id] = repeat(logits[offset + id]);
        }
      }
      for (int j = 0; j < numOutputDistinct; j++) {
        int id = outputDistinct[j];
        if (id < vocabSize && !inPrompt.get(id)) {
          logits[offset + id] = repeat(logits[offset + id]);
        }
      }
    }
    if (presence != 0f || frequency != 0f) {
      for (int j = 0; j < numOutputDistinct; j++) {
        int id = outputDistinct[j];
        if (id < vocabSize) {
          logits[offset + id] -= frequency * outputCounts[id];
          logits[offset + id] -= presence;
        }
      }
    }
  }

  private float repeat(float logit) {
    return logit > 0 ? logit / repetition : logit * repetition;
  }
}
