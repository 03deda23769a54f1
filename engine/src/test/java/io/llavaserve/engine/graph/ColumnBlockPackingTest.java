package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.HalfFloats;
import io.llavaserve.engine.checkpoint.WeightTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.ndarray.buffer.ShortDataBuffer;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.family.TType;

class ColumnBlockPackingTest {

  @Test
  void shapeRoundsColumnsUpToWholeTilesOf64() {
    assertArrayEquals(new long[] {4, 10, 16}, ColumnBlockPacking.shape(10, 64));
    assertArrayEquals(new long[] {8, 10, 16}, ColumnBlockPacking.shape(10, 65));
    assertEquals(8 * 10 * 16, ColumnBlockPacking.elements(10, 65));
  }

  @Test
  void float16CheckpointBitsAreCopiedIntoTheirColumnBlocks() {
    int in = 37;
    int out = 70; // 8 column blocks, the last 58 columns zero
    float[] w = values(out * in, 1);
    // Every float16 pattern class: NaN, infinities, subnormals, negative zero.
    w[0] = Float.NaN;
    w[1] = Float.POSITIVE_INFINITY;
    w[2] = -0f;
    w[3] = 3e-7f;
    short[] stored = new short[w.length];
    for (int i = 0; i < w.length; i++) {
      stored[i] = HalfFloats.floatToF16(w[i]);
    }
    WeightTensor t = halfTensor("w", stored, out, in);
    short[] packed = packHalf(List.of(t), in, out);
    for (int b = 0; b < 8; b++) {
      for (int k = 0; k < in; k++) {
        for (int c = 0; c < 16; c++) {
          int o = 16 * b + c;
          short want = o < out ? stored[o * in + k] : 0;
          assertEquals(want, packed[(b * in + k) * 16 + c], "block " + b + " k " + k + " c " + c);
        }
      }
    }
  }

  @Test
  void float32AndBfloat16WeightsRoundToFloat16AsTensorFlowCastsThem() {
    int in = 64;
    int out = 64;
    float[] w = values(out * in, 2);
    // Ties, values past float16's range, and below its smallest subnormal.
    w[0] = 1 + 0x1p-11f;
    w[1] = 1 + 3 * 0x1p-11f;
    w[2] = 70000f;
    w[3] = -65520f;
    w[4] = 0x1p-26f;
    w[5] = 0x1.8p-25f;
    w[6] = 6.1e-5f;
    short[] want = tensorFlowCast(w);
    assertArrayEquals(
        transposed(want, in, out), packHalf(List.of(floatTensor("w", w, out, in)), in, out));
    float[] bf = new float[w.length];
    for (int i = 0; i < w.length; i++) {
      bf[i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(w[i]));
    }
    assertArrayEquals(
        transposed(tensorFlowCast(bf), in, out),
        packHalf(List.of(bfloat16Tensor("w", w, out, in)), in, out));
  }

  @Test
  void float32BlocksHoldEveryStoredValueExactly() {
    int in = 19;
    int out = 50;
    float[] w = values(out * in, 3);
    short[] halves = new short[w.length];
    for (int i = 0; i < w.length; i++) {
      halves[i] = HalfFloats.floatToF16(w[i]);
    }
    float[] packed = packFloat(List.of(floatTensor("w", w, out, in)), in, out);
    float[] fromHalves = packFloat(List.of(halfTensor("w", halves, out, in)), in, out);
    for (int b = 0; b < 4; b++) {
      for (int k = 0; k < in; k++) {
        for (int c = 0; c < 16; c++) {
          int o = 16 * b + c;
          int at = (b * in + k) * 16 + c;
          assertEquals(o < out ? w[o * in + k] : 0f, packed[at]);
          assertEquals(o < out ? HalfFloats.f16ToFloat(halves[o * in + k]) : 0f, fromHalves[at]);
        }
      }
    }
  }

  @Test
  void stackedPartsAreOneWeightAndLargeOnesPackInManyRuns() {
    // 8192 inputs: 8 column blocks a run, so 40 blocks take five runs.
    int in = 8192;
    int[] rows = {256, 128, 256};
    int out = 640;
    float[] all = values(out * in, 4);
    List<WeightTensor> parts = new java.util.ArrayList<>();
    int at = 0;
    for (int i = 0; i < rows.length; i++) {
      float[] part = java.util.Arrays.copyOfRange(all, at * in, (at + rows[i]) * in);
      parts.add(floatTensor("p" + i, part, rows[i], in));
      at += rows[i];
    }
    assertArrayEquals(
        packFloat(List.of(floatTensor("all", all, out, in)), in, out), packFloat(parts, in, out));
  }

  @Test
  void aPartOfAnotherWidthIsRefused() {
    List<WeightTensor> parts =
        List.of(floatTensor("a", new float[8], 2, 4), floatTensor("b", new float[10], 2, 5));
    assertThrows(IllegalArgumentException.class, () -> packFloat(parts, 4, 4));
  }

  @Test
  void bfloat16BlocksMatchTensorFlowsPaddingTransposeAndCast() {
    // 40 inputs pad to 64, 70 columns to 128; float32 values round, bfloat16 ones copy their bits.
    int in = 40;
    int out = 70;
    float[] w = values(out * in, 5);
    w[0] = 1 + 0x1p-8f; // a tie: rounds to even
    w[1] = 1 + 3 * 0x1p-8f;
    w[2] = Float.MAX_VALUE;
    short[] want = tensorFlowBfloat16Blocks(w, in, out);
    assertArrayEquals(want, packBfloat16(List.of(floatTensor("w", w, out, in)), in, out));
    float[] stored = new float[w.length];
    for (int i = 0; i < w.length; i++) {
      stored[i] = HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(w[i]));
    }
    assertArrayEquals(
        tensorFlowBfloat16Blocks(stored, in, out),
        packBfloat16(List.of(bfloat16Tensor("w", w, out, in)), in, out));
    assertArrayEquals(new long[] {8, 32, 16, 2}, ColumnBlockPacking.pairedShape(in, out));
  }

  /**
   * bfloat16 in column blocks (the column-block kernel's layout): a bfloat16 checkpoint's bits
   * copied, float32 values rounded as TensorFlow's cast rounds them, columns past out zero.
   */
  @Test
  void bfloat16ColumnBlocksCopyStoredBitsAndRoundAsTensorFlowCasts() {
    int in = 37;
    int out = 70;
    float[] w = values(out * in, 6);
    w[0] = 1 + 0x1p-8f; // a tie: rounds to even
    w[1] = 1 + 3 * 0x1p-8f;
    w[2] = Float.MAX_VALUE;
    w[3] = -0f;
    short[] cast = tensorFlowCast(w, TBfloat16.class);
    assertArrayEquals(
        transposed(cast, in, out),
        packBfloat16Columns(List.of(floatTensor("w", w, out, in)), in, out));
    short[] stored = new short[w.length];
    for (int i = 0; i < w.length; i++) {
      stored[i] = HalfFloats.floatToBf16(w[i]);
    }
    assertArrayEquals(cast, stored, "the checkpoint's bits are TensorFlow's cast of the values");
    assertArrayEquals(
        transposed(stored, in, out),
        packBfloat16Columns(List.of(bfloat16Tensor("w", w, out, in)), in, out));
  }

  private static short[] packBfloat16(List<WeightTensor> parts, int in, int out) {
    short[] packed = new short[Math.toIntExact(ColumnBlockPacking.pairedElements(in, out))];
    java.util.Arrays.fill(packed, (short) 0x7777); // padding must be written, not assumed
    ColumnBlockPacking.packBfloat16(parts, in, out, DataBuffers.of(packed, false, false));
    return packed;
  }

  /**
   * [out, in] values as TensorFlow lays them out for the bfloat16 matmul: transposed, zero padded
   * to multiples of 32 in and 64 out, reshaped to [in / 2, 2, out / 16, 16], transposed to [out /
   * 16, in / 2, 16, 2] and cast.
   */
  private static short[] tensorFlowBfloat16Blocks(float[] rows, int in, int out) {
    long padIn = (in + 31) / 32 * 32 - in;
    long padOut = (out + 63) / 64 * 64 - out;
    try (Graph g = new Graph();
        Session s = new Session(g);
        TFloat32 input = TFloat32.tensorOf(Shape.of(out, in), DataBuffers.of(rows, true, false))) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(out, in)));
      var transposed = tf.linalg.transpose(x, tf.constant(new int[] {1, 0}));
      var padded =
          tf.pad(transposed, tf.constant(new long[][] {{0, padIn}, {0, padOut}}), tf.constant(0f));
      var blocks =
          tf.linalg.transpose(
              tf.reshape(
                  padded, tf.constant(new long[] {(in + padIn) / 2, 2, (out + padOut) / 16, 16})),
              tf.constant(new int[] {2, 0, 3, 1}));
      try (TBfloat16 cast =
          (TBfloat16)
              s.runner()
                  .feed(x, input)
                  .fetch(tf.dtypes.cast(blocks, TBfloat16.class))
                  .run()
                  .get(0)) {
        short[] bits = new short[Math.toIntExact(cast.size())];
        cast.asRawTensor().data().asShorts().read(bits);
        return bits;
      }
    }
  }

  private static float[] values(int n, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (random.nextGaussian() * Math.pow(2, random.nextInt(-20, 8)));
    }
    return v;
  }

  /** A packer of 16-bit column blocks: {@code ColumnBlockPacking.packHalf} or its bfloat16 twin. */
  private interface Columns16 {
    void pack(List<WeightTensor> parts, int in, int out, ShortDataBuffer dst);
  }

  private static short[] packHalf(List<WeightTensor> parts, int in, int out) {
    return packColumns16(ColumnBlockPacking::packHalf, parts, in, out);
  }

  private static short[] packBfloat16Columns(List<WeightTensor> parts, int in, int out) {
    return packColumns16(ColumnBlockPacking::packBfloat16Columns, parts, in, out);
  }

  private static short[] packColumns16(
      Columns16 packer, List<WeightTensor> parts, int in, int out) {
    short[] packed = new short[Math.toIntExact(ColumnBlockPacking.elements(in, out))];
    java.util.Arrays.fill(packed, (short) 0x7777); // padding must be written, not assumed
    packer.pack(parts, in, out, DataBuffers.of(packed, false, false));
    return packed;
  }

  private static float[] packFloat(List<WeightTensor> parts, int in, int out) {
    float[] packed = new float[Math.toIntExact(ColumnBlockPacking.elements(in, out))];
    java.util.Arrays.fill(packed, Float.NaN);
    ColumnBlockPacking.packFloat(parts, in, out, DataBuffers.of(packed, false, false));
    return packed;
  }

  /** [out, in] row-major values in column blocks of 16, as the packers lay them out. */
  private static short[] transposed(short[] rows, int in, int out) {
    short[] packed = new short[Math.toIntExact(ColumnBlockPacking.elements(in, out))];
    for (int o = 0; o < out; o++) {
      for (int k = 0; k < in; k++) {
        packed[((o / 16) * in + k) * 16 + o % 16] = rows[o * in + k];
      }
    }
    return packed;
  }

  private static short[] tensorFlowCast(float[] values) {
    return tensorFlowCast(values, TFloat16.class);
  }

  /** TensorFlow's cast of float32 values to a 16-bit type (float16 or bfloat16), as bits. */
  private static short[] tensorFlowCast(float[] values, Class<? extends TType> type) {
    try (Graph g = new Graph();
        Session s = new Session(g);
        TFloat32 input = TFloat32.vectorOf(values)) {
      Ops tf = Ops.create(g);
      Placeholder<TFloat32> x =
          tf.placeholder(TFloat32.class, Placeholder.shape(Shape.of(values.length)));
      try (org.tensorflow.Tensor cast =
          s.runner().feed(x, input).fetch(tf.dtypes.cast(x, type)).run().get(0)) {
        short[] bits = new short[values.length];
        cast.asRawTensor().data().asShorts().read(bits);
        return bits;
      }
    }
  }

  private static WeightTensor halfTensor(String name, short[] bits, int rows, int cols) {
    ByteBuffer b = ByteBuffer.allocate(2 * bits.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asShortBuffer().put(bits);
    return new WeightTensor(
        name, Path.of("test.safetensors"), DType.F16, new long[] {rows, cols}, b);
  }

  private static WeightTensor bfloat16Tensor(String name, float[] v, int rows, int cols) {
    ByteBuffer b = ByteBuffer.allocate(2 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) {
      b.putShort(HalfFloats.floatToBf16(f));
    }
    b.flip();
    return new WeightTensor(
        name, Path.of("test.safetensors"), DType.BF16, new long[] {rows, cols}, b);
  }

  private static WeightTensor floatTensor(String name, float[] v, int rows, int cols) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(v);
    return new WeightTensor(
        name, Path.of("test.safetensors"), DType.F32, new long[] {rows, cols}, b);
  }
}
