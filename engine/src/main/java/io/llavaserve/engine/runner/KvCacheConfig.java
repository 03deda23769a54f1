package io.llavaserve.engine.runner;

import io.llavaserve.engine.config.TextConfig;

/**
 * Shape of the device-side KV block pool.
 *
 * @param blockSize tokens per block
 * @param numBlocks blocks in the pool (shared by all sequences)
 * @param dtype element type the keys and values are kept in
 */
public record KvCacheConfig(int blockSize, int numBlocks, Dtype dtype) {

  public static final int DEFAULT_BLOCK_SIZE = 16;

  /** Element type of the pool. Attention itself always computes in float32. */
  public enum Dtype {
    /** Exact: the keys and values as the model computed them. */
    FLOAT32(4),
    /**
     * Half the bytes, so twice the tokens per budget and half the memory traffic of attention;
     * values keep 11 significant bits (as in vLLM's default for float16 checkpoints).
     */
    FLOAT16(2),
    /**
     * Follows the checkpoint: FLOAT16 for weights stored in 16 bits (vLLM's default keeps the KV
     * cache in the model's dtype), FLOAT32 otherwise. Resolved when the model loads; a pool is
     * never AUTO.
     */
    AUTO(0);

    private final int bytes;

    Dtype(int bytes) {
      this.bytes = bytes;
    }

    public int bytes() {
      return bytes;
    }

    /**
     * This choice for a checkpoint whose decoder weights are stored {@code bytesPerWeight} wide.
     */
    public Dtype resolve(int bytesPerWeight) {
      if (this != AUTO) {
        return this;
      }
      return bytesPerWeight <= 2 ? FLOAT16 : FLOAT32;
    }
  }

  public KvCacheConfig {
    if (blockSize <= 0 || numBlocks <= 0) {
      throw new IllegalArgumentException(
          "kv cache needs blockSize > 0 and numBlocks > 0, got " + blockSize + ", " + numBlocks);
    }
    if (dtype == null || dtype == Dtype.AUTO) {
      throw new IllegalArgumentException("kv cache dtype must be FLOAT32 or FLOAT16, got " + dtype);
    }
  }

  /** A float32 pool. */
  public KvCacheConfig(int blockSize, int numBlocks) {
    this(blockSize, numBlocks, Dtype.FLOAT32);
  }

  /** Bytes one block takes across all layers, keys and values, in float32. */
  public static long bytesPerBlock(TextConfig text, int blockSize) {
    return bytesPerBlock(text, blockSize, Dtype.FLOAT32);
  }

  /** Bytes one block takes across all layers, keys and values. */
  public static long bytesPerBlock(TextConfig text, int blockSize, Dtype dtype) {
    return 2L
        * text.numHiddenLayers()
        * blockSize
        * text.numKeyValueHeads()
        * text.headDim()
        * dtype.bytes();
  }

  /** The largest float32 pool that fits {@code budgetBytes}. */
  public static KvCacheConfig fromBudget(TextConfig text, int blockSize, long budgetBytes) {
    return fromBudget(text, blockSize, budgetBytes, Dtype.FLOAT32);
  }

  /** The largest pool of {@code dtype} that fits {@code budgetBytes}. */
  public static KvCacheConfig fromBudget(
      TextConfig text, int blockSize, long budgetBytes, Dtype dtype) {
    long blocks = budgetBytes / bytesPerBlock(text, blockSize, dtype);
    if (blocks < 1) {
      throw new IllegalArgumentException(
          "kv cache budget of "
              + budgetBytes
              + " bytes holds no block; one block takes "
              + bytesPerBlock(text, blockSize, dtype)
              + " bytes");
    }
    return new KvCacheConfig(blockSize, (int) Math.min(blocks, Integer.MAX_VALUE), dtype);
  }

  public long totalBytes(TextConfig text) {
    return bytesPerBlock(text, blockSize, dtype) * numBlocks;
  }

  /** Tokens the pool can hold. */
  public long capacityTokens() {
    return (long) blockSize * numBlocks;
  }
}
