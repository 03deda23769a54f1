package io.llavaserve.engine;

import io.llavaserve.engine.graph.Kernels;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.ImageLimits;
import io.llavaserve.engine.runner.KvCacheConfig;

/**
 * How a model is loaded: KV pool size, session threads, image handling.
 *
 * @param kvCacheBytes memory budget of the KV block pool
 * @param blockSize tokens per KV block
 * @param threads TensorFlow session threading
 * @param padToSquare LLaVA-1.5's pad-to-square before resizing (on by default)
 * @param imageLimits byte and pixel caps checked before an image is decoded
 * @param matmulPrecision element type of the matmul weights
 * @param kernels native or stock TensorFlow kernels for attention and bfloat16 matmuls
 * @param kvCacheDtype element type of the KV block pool
 */
public record ModelOptions(
    long kvCacheBytes,
    int blockSize,
    TfModelRunner.Threads threads,
    boolean padToSquare,
    ImageLimits imageLimits,
    MatmulPrecision matmulPrecision,
    Kernels kernels,
    KvCacheConfig.Dtype kvCacheDtype) {

  public static final long DEFAULT_KV_CACHE_BYTES = 1L << 30;

  public ModelOptions {
    if (kvCacheBytes <= 0) {
      throw new IllegalArgumentException("kv cache bytes must be > 0");
    }
    if (blockSize <= 0) {
      throw new IllegalArgumentException("block size must be > 0");
    }
  }

  public ModelOptions withKernels(Kernels k) {
    return new ModelOptions(
        kvCacheBytes,
        blockSize,
        threads,
        padToSquare,
        imageLimits,
        matmulPrecision,
        k,
        kvCacheDtype);
  }

  public ModelOptions withMatmulPrecision(MatmulPrecision p) {
    return new ModelOptions(
        kvCacheBytes, blockSize, threads, padToSquare, imageLimits, p, kernels, kvCacheDtype);
  }

  public ModelOptions withKvCacheDtype(KvCacheConfig.Dtype d) {
    return new ModelOptions(
        kvCacheBytes, blockSize, threads, padToSquare, imageLimits, matmulPrecision, kernels, d);
  }

  public static ModelOptions defaults() {
    return new ModelOptions(
        DEFAULT_KV_CACHE_BYTES,
        KvCacheConfig.DEFAULT_BLOCK_SIZE,
        TfModelRunner.Threads.defaults(),
        true,
        ImageLimits.defaults(),
        MatmulPrecision.FLOAT32,
        Kernels.AUTO,
        KvCacheConfig.Dtype.FLOAT32);
  }

  public ModelOptions withKvCacheBytes(long bytes) {
    return new ModelOptions(
        bytes,
        blockSize,
        threads,
        padToSquare,
        imageLimits,
        matmulPrecision,
        kernels,
        kvCacheDtype);
  }

  public ModelOptions withPadToSquare(boolean pad) {
    return new ModelOptions(
        kvCacheBytes, blockSize, threads, pad, imageLimits, matmulPrecision, kernels, kvCacheDtype);
  }
}
