package io.llavaserve.engine.runner;

import io.llavaserve.engine.config.TextConfig;

/**
 * Shape of the device-side KV block pool.
 *
 * @param blockSize tokens per block
 * @param numBlocks blocks in the pool (shared by all sequences)
 */
public record KvCacheConfig(int blockSize, int numBlocks) {

  public static final int DEFAULT_BLOCK_SIZE = 16;

  public KvCacheConfig {
    if (blockSize <= 0 || numBlocks <= 0) {
      throw new IllegalArgumentException(
          "kv cache needs blockSize > 0 and numBlocks > 0, got " + blockSize + ", " + numBlocks);
    }
  }

  /** Bytes one block takes across all layers, keys and values, in float32. */
  public static long bytesPerBlock(TextConfig text, int blockSize) {
    return 2L * text.numHiddenLayers() * blockSize * text.numKeyValueHeads() * text.headDim() * 4;
  }

  /** The largest pool that fits {@code budgetBytes}. */
  public static KvCacheConfig fromBudget(TextConfig text, int blockSize, long budgetBytes) {
    long blocks = budgetBytes / bytesPerBlock(text, blockSize);
    if (blocks < 1) {
      throw new IllegalArgumentException(
          "kv cache budget of "
              + budgetBytes
              + " bytes holds no block; one block takes "
              + bytesPerBlock(text, blockSize)
              + " bytes");
    }
    return new KvCacheConfig(blockSize, (int) Math.min(blocks, Integer.MAX_VALUE));
  }

  public long totalBytes(TextConfig text) {
    return bytesPerBlock(text, blockSize) * numBlocks;
  }

  /** Tokens the pool can hold. */
  public long capacityTokens() {
    return (long) blockSize * numBlocks;
  }
}
