package io.llavaserve.engine;

import io.llavaserve.engine.graph.Kernels;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.NativeKernels;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.ImageLimits;
import io.llavaserve.engine.prompt.ToolCallParser;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.engine.runner.KvCacheConfig;

/**
 * How a model is loaded: KV pool size, session threads, image handling.
 *
 * @param kvCacheBytes memory budget of the KV block pool
 * @param blockSize tokens per KV block
 * @param threads TensorFlow session threading
 * @param padToSquare LLaVA-1.5's pad-to-square before a CLIPImageProcessor resize (on by default; a
 *     SigLIP processor never pads)
 * @param imageLimits byte and pixel caps checked before an image is decoded
 * @param matmulPrecision element type of the matmul weights
 * @param kernels native or stock TensorFlow kernels for attention and bfloat16 matmuls
 * @param kvCacheDtype element type of the KV block pool
 * @param quantization how the language model's Linear weights are held: as the matmul precision
 *     gives them, or quantized to int8 at load
 * @param toolCallParser how answers are read for tool calls: decided from the checkpoint, or named
 * @param int8ActivationRows with int8 or int4 weights on the native kernels, the fewest rows in a
 *     step (prompt tokens of a prefill chunk, or sequences of a decode batch) whose activations are
 *     quantized to int8 for integer dot products, as llama.cpp does; 0 keeps float32 activations
 */
public record ModelOptions(
    long kvCacheBytes,
    int blockSize,
    TfModelRunner.Threads threads,
    boolean padToSquare,
    ImageLimits imageLimits,
    MatmulPrecision matmulPrecision,
    Kernels kernels,
    KvCacheConfig.Dtype kvCacheDtype,
    Quantization quantization,
    ToolCallParser toolCallParser,
    int int8ActivationRows) {

  public static final long DEFAULT_KV_CACHE_BYTES = 1L << 30;

  /**
   * Steps of at least this many rows quantize their activations by default with int8 weights where
   * the CPU lacks the in-place kernels ({@link NativeKernels#int8InPlace()}): below it, every call
   * would repack the weights it reads for fewer rows than pay for it.
   */
  public static final int DEFAULT_INT8_ACTIVATION_ROWS = 16;

  /**
   * The same with int4 weights where their blocks are not read in place: their integer kernels add
   * a block's products in 16 bits and outrun the float32 ones from two rows on, repacking included.
   */
  public static final int DEFAULT_INT4_ACTIVATION_ROWS = 2;

  /**
   * The default of {@code int8ActivationRows} on this CPU for these weights: 1 (every step, decode
   * included) where the native kernels read int8 and int4 blocks in place for up to 32 rows, and
   * with int4 where they read int4 blocks in place with AVX2 for up to 6 rows (single-stream int4
   * decode measured 15-27% faster so than with float32 activations on an AVX2-only Zen 3, and a
   * sequence then takes int8 activations whether it decodes alone or among others); else {@link
   * #DEFAULT_INT4_ACTIVATION_ROWS} with int4 and {@link #DEFAULT_INT8_ACTIVATION_ROWS} otherwise.
   */
  public static int autoInt8ActivationRows(Quantization quantization) {
    if (NativeKernels.int8InPlace()
        || (quantization == Quantization.INT4 && NativeKernels.int4InPlaceAvx2())) {
      return 1;
    }
    return quantization == Quantization.INT4
        ? DEFAULT_INT4_ACTIVATION_ROWS
        : DEFAULT_INT8_ACTIVATION_ROWS;
  }

  public ModelOptions {
    if (kvCacheBytes <= 0) {
      throw new IllegalArgumentException("kv cache bytes must be > 0");
    }
    if (blockSize <= 0) {
      throw new IllegalArgumentException("block size must be > 0");
    }
    if (quantization == null) {
      throw new IllegalArgumentException("quantization must be given (NONE for none)");
    }
    if (toolCallParser == null) {
      throw new IllegalArgumentException("toolCallParser must be given (AUTO to detect it)");
    }
    if (int8ActivationRows < 0) {
      throw new IllegalArgumentException(
          "int8 activation rows must be >= 0 (0 for never), got " + int8ActivationRows);
    }
  }

  /** The defaults: 1 GiB of float32 KV cache, exact float32 matmuls, LLaVA-1.5 padding. */
  public static ModelOptions defaults() {
    return builder().build();
  }

  /** A builder starting from the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  /** A builder starting from these options. */
  public Builder toBuilder() {
    return new Builder()
        .kvCacheBytes(kvCacheBytes)
        .blockSize(blockSize)
        .threads(threads)
        .padToSquare(padToSquare)
        .imageLimits(imageLimits)
        .matmulPrecision(matmulPrecision)
        .kernels(kernels)
        .kvCacheDtype(kvCacheDtype)
        .quantization(quantization)
        .toolCallParser(toolCallParser)
        .int8ActivationRows(int8ActivationRows);
  }

  /** These options with a KV pool of {@code bytes}, the one field most tests and tools change. */
  public ModelOptions withKvCacheBytes(long bytes) {
    return toBuilder().kvCacheBytes(bytes).build();
  }

  /** Options field by field, each starting at its default. */
  public static final class Builder {
    private long kvCacheBytes = DEFAULT_KV_CACHE_BYTES;
    private int blockSize = KvCacheConfig.DEFAULT_BLOCK_SIZE;
    private TfModelRunner.Threads threads = TfModelRunner.Threads.defaults();
    private boolean padToSquare = true;
    private ImageLimits imageLimits = ImageLimits.defaults();
    private MatmulPrecision matmulPrecision = MatmulPrecision.FLOAT32;
    private Kernels kernels = Kernels.AUTO;
    private KvCacheConfig.Dtype kvCacheDtype = KvCacheConfig.Dtype.FLOAT32;
    private Quantization quantization = Quantization.NONE;
    private ToolCallParser toolCallParser = ToolCallParser.AUTO;
    private int int8ActivationRows = -1; // auto: decided in build() by the quantization

    private Builder() {}

    public Builder kvCacheBytes(long v) {
      kvCacheBytes = v;
      return this;
    }

    public Builder blockSize(int v) {
      blockSize = v;
      return this;
    }

    public Builder threads(TfModelRunner.Threads v) {
      threads = v;
      return this;
    }

    public Builder padToSquare(boolean v) {
      padToSquare = v;
      return this;
    }

    public Builder imageLimits(ImageLimits v) {
      imageLimits = v;
      return this;
    }

    public Builder matmulPrecision(MatmulPrecision v) {
      matmulPrecision = v;
      return this;
    }

    public Builder kernels(Kernels v) {
      kernels = v;
      return this;
    }

    public Builder kvCacheDtype(KvCacheConfig.Dtype v) {
      kvCacheDtype = v;
      return this;
    }

    public Builder quantization(Quantization v) {
      quantization = v;
      return this;
    }

    public Builder toolCallParser(ToolCallParser v) {
      toolCallParser = v;
      return this;
    }

    /** Steps of at least this many rows quantize their activations; -1 (the default) for auto. */
    public Builder int8ActivationRows(int v) {
      int8ActivationRows = v;
      return this;
    }

    public ModelOptions build() {
      return new ModelOptions(
          kvCacheBytes,
          blockSize,
          threads,
          padToSquare,
          imageLimits,
          matmulPrecision,
          kernels,
          kvCacheDtype,
          quantization,
          toolCallParser,
          int8ActivationRows < 0 ? autoInt8ActivationRows(quantization) : int8ActivationRows);
    }
  }
}
