package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.ImagePlacement;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.sampling.RowOutput;
import io.llavaserve.engine.sampling.RowSampling;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.ndarray.buffer.FloatDataBuffer;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.RunOptions;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;
import org.tensorflow.types.TUint8;

/**
 * The LLaVA model as one TensorFlow graph with two entry points, the vision run and the decoder
 * step, each a single session call. Weights and the KV pool live on the device; per step only token
 * ids, positions, block tables and image features go in and logits come out.
 */
public final class TfModelRunner implements ModelRunner {

  private final LlavaConfig config;
  private final KvCacheConfig kvCache;
  private final Graph graph;
  private final Session session;
  private final VisionTower vision;
  private final java.util.EnumMap<DecoderStep.Mode, DecoderStep> steps =
      new java.util.EnumMap<>(DecoderStep.Mode.class);
  private final long weightBytes;
  private final boolean nativeAttention;
  private final boolean nativeMatMul;
  private final Quantization quantization;
  private final boolean nativeQuantizedMatMul;
  private volatile OpProfile profile;

  /**
   * Session threading: intra-op threads split one op, inter-op threads run independent ops. One
   * inter-op thread by default: a step's ops then run one after another, each across the intra-op
   * threads (and the native kernels' own pool), rather than two at once on cores the intra-op
   * threads already fill; on 2 cores that made decode 5-28% faster (float16 and int4, 1 to 32
   * sequences) and left prefill as it was.
   */
  public record Threads(int intraOp, int interOp) {
    public static Threads defaults() {
      return new Threads(Runtime.getRuntime().availableProcessors(), 1);
    }
  }

  private TfModelRunner(
      Checkpoint ckpt,
      KvCacheConfig kvCache,
      Threads threads,
      MatmulPrecision precision,
      Quantization quantization,
      Kernels kernels,
      int int8ActivationRows)
      throws CheckpointException {
    if (precision == MatmulPrecision.AUTO) {
      throw new IllegalArgumentException(
          "resolve MatmulPrecision.AUTO against the checkpoint first");
    }
    this.config = ckpt.config();
    this.nativeAttention = kernels.nativeAttention();
    this.nativeMatMul =
        switch (precision) {
          case BFLOAT16 -> kernels.nativeBf16MatMul() || kernels.nativeBf16ColumnMatMul();
          case FLOAT16 -> kernels.nativeF16MatMul();
          case FLOAT32 -> kernels.nativeF32MatMul();
          case AUTO -> false;
        };
    this.quantization = quantization;
    this.nativeQuantizedMatMul =
        quantization != Quantization.NONE && kernels.nativeQuantizedMatMul();
    this.kvCache = kvCache;
    Graph g = new Graph();
    Session s = null;
    try {
      Ops tf = Ops.create(g);
      GraphOps ops =
          new GraphOps(
              tf,
              threads.intraOp(),
              nativeAttention,
              nativeQuantizedMatMul,
              nativeQuantizedMatMul ? int8ActivationRows : 0);
      DeviceWeights weights =
          new DeviceWeights(
              tf,
              precision,
              nativeMatMul,
              precision == MatmulPrecision.BFLOAT16 && !kernels.nativeBf16MatMul(),
              quantization);
      this.vision = new VisionTower(ops, weights, ckpt, config);
      KvPool pool = new KvPool(tf, config.text(), kvCache, nativeAttention, threads.intraOp());
      for (DecoderStep.Mode mode : DecoderStep.Mode.values()) {
        steps.put(
            mode,
            new DecoderStep(
                ops, weights, pool, ckpt, config.text(), mode, nativeAttention, threads.intraOp()));
      }
      ConfigProto proto =
          ConfigProto.newBuilder()
              .setIntraOpParallelismThreads(threads.intraOp())
              .setInterOpParallelismThreads(threads.interOp())
              .build();
      s = new Session(g, proto);
      weights.upload(s);
      pool.zero(s);
      this.weightBytes = weights.totalBytes();
    } catch (RuntimeException | CheckpointException e) {
      if (s != null) {
        s.close();
      }
      g.close();
      throw e;
    }
    this.graph = g;
    this.session = s;
  }

  /**
   * Builds the graph for {@code ckpt}, uploads its weights, and runs every entry point once so that
   * TensorFlow's one-time graph preparation is not paid by the first request.
   */
  public static TfModelRunner load(
      Checkpoint ckpt,
      KvCacheConfig kvCache,
      Threads threads,
      MatmulPrecision precision,
      Quantization quantization,
      Kernels kernels)
      throws CheckpointException {
    return load(ckpt, kvCache, threads, precision, quantization, kernels, 0);
  }

  /**
   * As above, with the steps of at least {@code int8ActivationRows} rows multiplying quantized
   * weights by their activations quantized to int8 (0: never).
   */
  public static TfModelRunner load(
      Checkpoint ckpt,
      KvCacheConfig kvCache,
      Threads threads,
      MatmulPrecision precision,
      Quantization quantization,
      Kernels kernels,
      int int8ActivationRows)
      throws CheckpointException {
    TfModelRunner runner =
        new TfModelRunner(
            ckpt, kvCache, threads, precision, quantization, kernels, int8ActivationRows);
    try {
      runner.warmUp();
    } catch (RuntimeException e) {
      runner.close();
      throw e;
    }
    return runner;
  }

  /** One run of the vision tower and of each step mode, on block 0 (which is then garbage). */
  private void warmUp() {
    int c = config.vision().numChannels();
    int side = config.vision().imageSize();
    if (config.isAnyResolution()) {
      // An image of one tile's size: the base tile and the grid of its best pinpoint.
      int tiles = config.anyResolution().tiles(side, side);
      List<PixelValues> image =
          List.of(
              PixelValues.tiled(
                  tiles, c, side, side, side, side, new float[tiles * c * side * side]));
      encodeImages(image);
      if (config.isOneVision()) {
        // The weighted gather a reduced map takes, on the same image's plan.
        encode(image, TilePacking.plan(image, config.anyResolution()).widened());
      }
    } else {
      encodeImages(List.of(PixelValues.of(c, side, side, new float[c * side * side])));
    }
    int[] block = {0, 0};
    SequenceChunk decode = SequenceChunk.text(new int[] {0}, 0, block);
    SequenceChunk prefill = SequenceChunk.text(new int[] {0, 0}, 0, block);
    execute(ScheduledBatch.of(List.of(decode)));
    execute(ScheduledBatch.of(List.of(prefill)));
    execute(
        ScheduledBatch.of(
            List.of(
                decode.withSampling(RowSampling.draw(1f, 0f, 0.5f).withLogprobs()),
                prefill.withSampling(RowSampling.full()))));
  }

  /** {@link #load} without quantization. */
  public static TfModelRunner load(
      Checkpoint ckpt,
      KvCacheConfig kvCache,
      Threads threads,
      MatmulPrecision precision,
      Kernels kernels)
      throws CheckpointException {
    return load(ckpt, kvCache, threads, precision, Quantization.NONE, kernels);
  }

  public static TfModelRunner load(
      Checkpoint ckpt, KvCacheConfig kvCache, Threads threads, MatmulPrecision precision)
      throws CheckpointException {
    return load(ckpt, kvCache, threads, precision, Kernels.AUTO);
  }

  public static TfModelRunner load(Checkpoint ckpt, KvCacheConfig kvCache)
      throws CheckpointException {
    return load(ckpt, kvCache, Threads.defaults(), MatmulPrecision.FLOAT32);
  }

  /** Whether decode attention runs in the native kernel. */
  public boolean nativeAttention() {
    return nativeAttention;
  }

  /** Whether the Linear layers run in a native kernel (the bfloat16, float16 or float32 one). */
  public boolean nativeMatMul() {
    return nativeMatMul;
  }

  /**
   * How the language model's Linear weights are held: NONE (as {@link #nativeMatMul}), INT8 or
   * INT4.
   */
  public Quantization quantization() {
    return quantization;
  }

  /** Whether quantized Linear weights run in their native kernel (else stock ops dequantize). */
  public boolean nativeQuantizedMatMul() {
    return nativeQuantizedMatMul;
  }

  public LlavaConfig config() {
    return config;
  }

  /** Bytes of weights held on the device. */
  public long weightBytes() {
    return weightBytes;
  }

  @Override
  public KvCacheConfig kvCache() {
    return kvCache;
  }

  @Override
  public int vocabSize() {
    return config.text().vocabSize();
  }

  /**
   * One vision run: every tile of every image as one batch through the tower and projector; for
   * llava one result per tile-image, for llava_next and llava_onevision each image's tiles packed
   * into its rows ({@link TilePacking}, a weighted gather where llava_onevision reduces a map)
   * inside the same session call.
   */
  @Override
  public List<ImageFeatures> encodeImages(List<PixelValues> images) {
    if (images.isEmpty()) {
      return List.of();
    }
    return encode(
        images, config.isAnyResolution() ? TilePacking.plan(images, config.anyResolution()) : null);
  }

  /** {@link #encodeImages} with its packing plan (null for llava). */
  List<ImageFeatures> encode(List<PixelValues> images, TilePacking plan) {
    int c = config.vision().numChannels();
    int side = config.vision().imageSize();
    int per = c * side * side;
    int tiles = 0;
    for (int i = 0; i < images.size(); i++) {
      PixelValues p = images.get(i);
      checkImage(i, p, c, side);
      tiles += p.tiles();
    }
    float[] pixels = new float[Math.multiplyExact(tiles, per)];
    int at = 0;
    for (PixelValues p : images) {
      System.arraycopy(p.data(), 0, pixels, at, p.data().length);
      at += p.data().length;
    }
    int width = config.text().hiddenSize();
    try (TFloat32 in =
        TFloat32.tensorOf(Shape.of(tiles, c, side, side), DataBuffers.of(pixels, true, false))) {
      if (plan != null && plan.taps() > 1) {
        try (TInt32 index = ints(plan.index(), plan.rows(), plan.taps());
            TFloat32 weights =
                TFloat32.tensorOf(
                    Shape.of(plan.rows(), plan.taps()),
                    DataBuffers.of(plan.weights(), true, false));
            Result r =
                session
                    .runner()
                    .feed(vision.pixels, in)
                    .feed(vision.blendIndex, index)
                    .feed(vision.blendWeights, weights)
                    .fetch(vision.blended)
                    .run()) {
          return split((TFloat32) r.get(0), plan.rowsPerImage(), width);
        }
      }
      if (plan != null) {
        try (TInt32 index = ints(plan.index(), plan.index().length);
            Result r =
                session
                    .runner()
                    .feed(vision.pixels, in)
                    .feed(vision.packIndex, index)
                    .fetch(vision.packed)
                    .run()) {
          return split((TFloat32) r.get(0), plan.rowsPerImage(), width);
        }
      }
      int[] rows = new int[images.size()];
      Arrays.fill(rows, config.imageSeqLength());
      try (Result r = session.runner().feed(vision.pixels, in).fetch(vision.features).run()) {
        return split((TFloat32) r.get(0), rows, width);
      }
    }
  }

  /** Consecutive runs of {@code rows[i]} rows of {@code width} floats, one per image. */
  private static List<ImageFeatures> split(TFloat32 out, int[] rows, int width) {
    FloatDataBuffer src = out.asRawTensor().data().asFloats();
    List<ImageFeatures> result = new ArrayList<>(rows.length);
    long offset = 0;
    for (int n : rows) {
      float[] data = new float[n * width];
      src.offset(offset).read(data);
      offset += data.length;
      result.add(new ImageFeatures(n, width, data));
    }
    return result;
  }

  /** The tower's tile shape, and for llava_next the tiles the image's size implies. */
  private void checkImage(int i, PixelValues p, int c, int side) {
    if (p.channels() != c || p.height() != side || p.width() != side) {
      throw new IllegalArgumentException(
          "image "
              + i
              + " has tiles of "
              + p.channels()
              + "x"
              + p.height()
              + "x"
              + p.width()
              + "; the vision tower takes "
              + c
              + "x"
              + side
              + "x"
              + side);
    }
    if (!config.isAnyResolution()) {
      if (p.tiles() != 1) {
        throw new IllegalArgumentException(
            "image " + i + " has " + p.tiles() + " tiles; a " + config.modelType() + " takes one");
      }
      return;
    }
    if (config.isOneVision() && p.tiles() == 1) {
      return; // one of several images in its prompt: one tile, whatever its size
    }
    if (!p.hasImageSize()) {
      throw new IllegalArgumentException(
          "image " + i + " has no image size; " + config.modelType() + " tiles depend on it");
    }
    int expected = config.anyResolution().tiles(p.imageHeight(), p.imageWidth());
    if (p.tiles() != expected) {
      throw new IllegalArgumentException(
          "image "
              + i
              + " of "
              + p.imageHeight()
              + " x "
              + p.imageWidth()
              + " has "
              + p.tiles()
              + " tiles; its best pinpoint gives "
              + expected);
    }
  }

  @Override
  public StepOutput execute(ScheduledBatch batch) {
    StepInputs in = StepInputs.of(batch, kvCache, config);
    DecoderStep step = steps.get(DecoderStep.Mode.of(in.decodeSeqs, in.prefillSeqs));
    List<Tensor> owned = new ArrayList<>();
    try {
      Session.Runner run =
          session
              .runner()
              .feed(step.inputIds, own(owned, in.inputIds, in.inputIds.length))
              .feed(step.positions, own(owned, in.positions, in.positions.length))
              .feed(step.slots, own(owned, in.slots, in.positions.length, in.kvHeads, 3))
              .feed(
                  step.imageRows,
                  own(
                      owned,
                      TFloat32.tensorOf(
                          Shape.of(in.imageRowCount, config.text().hiddenSize()),
                          DataBuffers.of(in.imageRows, true, false))))
              .feed(step.imagePositions, own(owned, in.imagePositions, in.imageRowCount, 1))
              .feed(step.logitsIndex, own(owned, in.logitsIndex, in.logitsIndex.length));
      if (step.mode.decode) {
        run.feed(
                step.decodeBlockTables, own(owned, in.decodeTables, in.decodeSeqs, in.decodeBlocks))
            .feed(step.decodeContextLens, own(owned, in.decodeLens, in.decodeSeqs));
      }
      if (step.mode.prefill) {
        run.feed(
                step.prefillBlockTables,
                own(owned, in.prefillTables, in.prefillSeqs, in.prefillBlocks))
            .feed(
                step.prefillTokenIndex,
                own(owned, in.prefillTokenIndex, in.prefillSeqs, in.prefillWidth))
            .feed(
                step.prefillQueryPositions,
                own(owned, in.prefillQueryPositions, in.prefillSeqs, in.prefillWidth))
            .feed(
                step.prefillGatherIndex,
                own(owned, in.prefillGatherIndex, in.prefillGatherIndex.length));
      }
      int vocab = vocabSize();
      if (batch.allLogits()) {
        try (Result r = run(run.fetch(step.logits))) {
          FloatDataBuffer src = ((TFloat32) r.get(0)).asRawTensor().data().asFloats();
          float[] logits = new float[in.logitsIndex.length * vocab];
          for (int i = 0; i < in.logitsIndex.length; i++) {
            src.offset((long) i * vocab).read(logits, in.outputRow[i] * vocab, vocab);
          }
          return new StepOutput(vocab, List.of(), logits);
        }
      }
      return sample(run, step.sampling, in, owned, vocab);
    } finally {
      owned.forEach(Tensor::close);
    }
  }

  /**
   * Traces every step run from now on into {@code profile} (TensorFlow's step statistics, op by
   * op), until it is set to null. Tracing slows the steps; for diagnosis only, as {@code bench
   * --op-profile} does.
   */
  public void profile(OpProfile profile) {
    this.profile = profile;
  }

  /** Runs a step, traced into the profile when one is set. */
  private Result run(Session.Runner run) {
    OpProfile p = profile;
    if (p == null) {
      return run.run();
    }
    run.setOptions(RunOptions.newBuilder().setTraceLevel(RunOptions.TraceLevel.FULL_TRACE).build());
    Result r = run.runAndFetchMetadata();
    r.getMetadata().ifPresent(metadata -> p.add(metadata.getStepStats()));
    return r;
  }

  /** Feeds the rows' sampling, runs the step, and reads one {@link RowOutput} per chunk. */
  private StepOutput sample(
      Session.Runner run, SamplingHead head, StepInputs in, List<Tensor> owned, int vocab) {
    int rows = in.logitsIndex.length;
    boolean full = in.fullRowIndex.length > 0;
    run.feed(head.temperature, own(owned, floats(in.temperature)))
        .feed(head.minP, own(owned, floats(in.minP)))
        .feed(head.uniform, own(owned, floats(in.uniform)))
        .feed(head.fullRowIndex, own(owned, in.fullRowIndex, in.fullRowIndex.length))
        .feed(head.candidates, own(owned, TInt32.scalarOf(in.candidates)));
    boolean masked = in.mask != null;
    if (masked) {
      run.feed(
          head.mask,
          own(
              owned,
              TUint8.tensorOf(Shape.of(rows, in.maskBytes), DataBuffers.of(in.mask, true, false))));
    }
    head.fetches(in.logprobs, in.draws, full, masked).forEach(run::fetch);
    try (Result r = run(run)) {
      int k = (int) r.get(0).shape().get(1);
      float[] topLogits = new float[rows * k];
      int[] topIds = new int[rows * k];
      ((TFloat32) r.get(0)).asRawTensor().data().asFloats().read(topLogits);
      ((TInt32) r.get(1)).asRawTensor().data().asInts().read(topIds);
      int next = 2;
      float[] lse = new float[rows];
      if (in.logprobs) {
        ((TFloat32) r.get(next++)).asRawTensor().data().asFloats().read(lse);
      } else {
        java.util.Arrays.fill(lse, Float.NaN);
      }
      int[] drawn = new int[rows];
      float[] drawnLogit = new float[rows];
      if (in.draws) {
        ((TInt32) r.get(next++)).asRawTensor().data().asInts().read(drawn);
        ((TFloat32) r.get(next++)).asRawTensor().data().asFloats().read(drawnLogit);
      }
      float[][] fullRows = new float[rows][];
      if (full) {
        FloatDataBuffer src = ((TFloat32) r.get(next)).asRawTensor().data().asFloats();
        for (int f = 0; f < in.fullRowIndex.length; f++) {
          float[] row = new float[vocab];
          src.offset((long) f * vocab).read(row);
          fullRows[in.fullRowIndex[f]] = row;
        }
      }
      RowOutput[] out = new RowOutput[rows];
      for (int i = 0; i < rows; i++) {
        boolean draws = in.temperature[i] > 0;
        out[in.outputRow[i]] =
            new RowOutput(
                vocab,
                java.util.Arrays.copyOfRange(topIds, i * k, (i + 1) * k),
                java.util.Arrays.copyOfRange(topLogits, i * k, (i + 1) * k),
                lse[i],
                draws ? drawn[i] : -1,
                draws ? drawnLogit[i] : Float.NaN,
                fullRows[i]);
      }
      return new StepOutput(vocab, List.of(out), null);
    }
  }

  private static TFloat32 floats(float[] data) {
    return TFloat32.tensorOf(Shape.of(data.length), DataBuffers.of(data, true, false));
  }

  /** A tensor whose closing is left to {@code owned}. */
  private static <T extends Tensor> T own(List<Tensor> owned, T tensor) {
    owned.add(tensor);
    return tensor;
  }

  /** An int tensor whose closing is left to {@code owned}. */
  private static TInt32 own(List<Tensor> owned, int[] data, long... shape) {
    return own(owned, ints(data, shape));
  }

  private static TInt32 ints(int[] data, long... shape) {
    return TInt32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }

  /** Debug view of a batch's layout, for error messages. */
  static String describe(ScheduledBatch batch) {
    StringBuilder b = new StringBuilder();
    for (SequenceChunk c : batch.chunks()) {
      b.append('[')
          .append(c.startPosition())
          .append('+')
          .append(c.length())
          .append(" blocks=")
          .append(Arrays.toString(c.blockTable()))
          .append(']');
    }
    return b.toString();
  }

  static int imageRowsOf(SequenceChunk c) {
    int n = 0;
    for (ImagePlacement p : c.images()) {
      n += p.rowCount();
    }
    return n;
  }
}
