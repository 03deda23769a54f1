package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.checkpoint.WeightTensor;
import io.llavaserve.engine.quantization.Quantization;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToLongFunction;
import org.tensorflow.Operand;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.FloatDataBuffer;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.AssignVariableOp;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.VarHandleOp;
import org.tensorflow.types.TBfloat16;
import org.tensorflow.types.TFloat16;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TUint8;
import org.tensorflow.types.family.TType;

/**
 * Model weights as device-resident resource variables. The graph reads them; they are uploaded
 * once, tensor by tensor, straight from the memory-mapped checkpoint into native memory, so no
 * weight ever sits whole on the Java heap.
 *
 * <p>A variable may be the row-wise concatenation of several checkpoint tensors, which is how the
 * Q/K/V and gate/up projections are fused into one matmul each.
 *
 * <p>Linear weights for the native float16, float32 and bfloat16 matmuls are laid out on the host
 * while they are read from the checkpoint ({@link ColumnBlockPacking}); with int8 or int4
 * quantization the language model's Linear weights are quantized on the host the same way. Only the
 * packed weights reach the device: no float32 copy of them exists there at any time.
 */
final class DeviceWeights {

  private static final int CHUNK = 1 << 20;
  // Weights go to the device in session calls of up to this many staged bytes (one weight larger
  // than it goes alone): every call with a new set of feeds costs the session a new executor, so a
  // call per weight would cost a small model more than its bytes.
  static final long BATCH_BYTES = 128L << 20;

  private final Ops tf;
  private final MatmulPrecision precision;
  private final boolean packForNativeMatMul;
  private final boolean bf16Columns;
  private final Quantization quantization;
  // Per quantized Linear weight name: its packed Q8 or Q4 blocks.
  private final java.util.Map<String, Linear> quantizedByName = new java.util.HashMap<>();
  private final List<QuantizedUpload> quantizedUploads = new ArrayList<>();
  private final List<PackedUpload> packedUploads = new ArrayList<>();
  // Per Linear weight name: its bfloat16 or float16 copy (packed or not), or its packed float32
  // one.
  private final java.util.Map<String, Operand<? extends TType>> narrowByName =
      new java.util.HashMap<>();
  private final java.util.Map<String, VarHandleOp> handlesByName = new java.util.HashMap<>();
  // Per weight name: its conversion (narrowing, packing), then the emptying of its float32 staging
  // copy, run right after the upload of that weight's batch so that float32 copies of at most one
  // batch exist at a time.
  private final java.util.Map<String, org.tensorflow.op.Op> conversions = new java.util.HashMap<>();
  private final java.util.Map<String, org.tensorflow.op.Op> releases = new java.util.HashMap<>();
  private final List<Upload> uploads = new ArrayList<>();
  // One variable per name, however many graph paths read it.
  private final java.util.Map<String, Operand<TFloat32>> byName = new java.util.HashMap<>();
  private long totalBytes;
  // Each sub-scope made once: making one scans every operation of the graph for the names it
  // has used, which per weight made building a model's graph quadratic in its size.
  private final java.util.Map<String, Ops> scopes = new java.util.HashMap<>();

  private record Upload(
      String name,
      Shape shape,
      List<WeightTensor> parts,
      Placeholder<TFloat32> feed,
      AssignVariableOp assign) {}

  /**
   * A Linear weight for a native matmul ([out, in] rows stacked from parts) to pack on the host in
   * its kernel's layout and upload.
   */
  private record PackedUpload(
      String name,
      int in,
      int out,
      List<WeightTensor> parts,
      Placeholder<? extends TType> feed,
      AssignVariableOp assign) {}

  /** A Linear weight ([out, in] rows stacked from parts) to quantize and upload packed. */
  private record QuantizedUpload(
      String name,
      int in,
      int out,
      List<WeightTensor> parts,
      Placeholder<TUint8> feed,
      AssignVariableOp assign) {}

  /**
   * @param precision the Linear weights' element type: FLOAT32, BFLOAT16 or FLOAT16
   * @param packForNativeMatMul store Linear weights packed for the native kernel of their type
   *     (bfloat16, float16 or float32)
   * @param bf16Columns pack bfloat16 weights in column blocks for {@code LlavaBf16ColumnMatMul}
   *     (float32 activations), not in the AMX kernel's pairs
   * @param quantization how the language model's Linear weights ({@link #decoderLinear}) are held
   */
  DeviceWeights(
      Ops tf,
      MatmulPrecision precision,
      boolean packForNativeMatMul,
      boolean bf16Columns,
      Quantization quantization) {
    if (precision == MatmulPrecision.AUTO) {
      throw new IllegalArgumentException(
          "resolve MatmulPrecision.AUTO against the checkpoint first");
    }
    this.tf = tf;
    this.precision = precision;
    this.packForNativeMatMul = packForNativeMatMul;
    this.bf16Columns = bf16Columns;
    this.quantization = quantization;
  }

  private Ops scope(String name) {
    return scopes.computeIfAbsent(name, tf::withSubScope);
  }

  /** A variable holding one checkpoint tensor, with the shape the checkpoint gives. */
  Operand<TFloat32> of(WeightTensor w) {
    return fused(w.name(), w.shape(), List.of(w));
  }

  /** A variable holding one checkpoint tensor viewed with another shape of the same size. */
  Operand<TFloat32> of(WeightTensor w, long... shape) {
    return fused(w.name(), shape, List.of(w));
  }

  /**
   * A Linear layer's weight ([out, in] in the checkpoint) stored transposed, [in, out], so the
   * graph multiplies {@code x @ w} without a transposed operand: oneDNN's kernels run markedly
   * faster that way, above all for the single-row products of decoding.
   */
  Linear linear(WeightTensor w) {
    return linear(w.name(), List.of(w));
  }

  /**
   * The attention's Q, K and V projections of one layer ({@code attention} ends in "self_attn."),
   * fused into one Linear weight, in that order.
   */
  Linear qkv(Checkpoint ckpt, String attention) {
    return linear(attention + "qkv_proj.weight", qkvParts(ckpt, attention, "weight"));
  }

  /** The Q, K and V projections' biases of one layer, stacked like {@link #qkv}'s outputs. */
  Operand<TFloat32> qkvBias(Checkpoint ckpt, String attention) {
    return stacked(attention + "qkv_proj.bias", qkvParts(ckpt, attention, "bias"));
  }

  private static List<WeightTensor> qkvParts(Checkpoint ckpt, String attention, String kind) {
    return List.of(
        ckpt.tensor(attention + "q_proj." + kind),
        ckpt.tensor(attention + "k_proj." + kind),
        ckpt.tensor(attention + "v_proj." + kind));
  }

  /**
   * A Linear weight of the language model: quantized to int8 Q8 blocks, packed as {@link Q8Packing}
   * lays them out, or to int4 Q4 blocks as {@link Q4Packing} does, when the model loads with int8
   * or int4 weights; else as {@link #linear}.
   */
  Linear decoderLinear(WeightTensor w) {
    return decoderLinear(w.name(), List.of(w));
  }

  /** The Q, K and V projections of a language-model layer, as {@link #qkv} or quantized. */
  Linear decoderQkv(Checkpoint ckpt, String attention) {
    return decoderLinear(attention + "qkv_proj.weight", qkvParts(ckpt, attention, "weight"));
  }

  /** Several Linear weights of the language model, fused as {@link #linear(String, List)}. */
  Linear decoderLinear(String name, List<WeightTensor> parts) {
    if (quantization == Quantization.NONE) {
      return linear(name, parts);
    }
    Linear existing = quantizedByName.get(name);
    if (existing != null) {
      return existing;
    }
    long[] rows = stackedShape(name, parts);
    if (rows.length != 2) {
      throw new IllegalArgumentException(name + ": a linear weight must be 2-d");
    }
    int out = Math.toIntExact(rows[0]);
    int in = Math.toIntExact(rows[1]);
    boolean int8 = quantization == Quantization.INT8;
    long[] packed = packedShape(in, out);
    String kind = int8 ? "q8" : "q4";
    Ops scope = scope("weights_" + kind);
    VarHandleOp handle =
        scope.varHandleOp(
            TUint8.class, Shape.of(packed), VarHandleOp.sharedName(kind + ":" + name));
    Placeholder<TUint8> feed = scope.placeholder(TUint8.class, Placeholder.shape(Shape.of(packed)));
    quantizedUploads.add(
        new QuantizedUpload(
            name, in, out, List.copyOf(parts), feed, scope.assignVariableOp(handle, feed)));
    totalBytes += int8 ? Q8Packing.bytes(in, out) : Q4Packing.bytes(in, out);
    Operand<TUint8> read = scope.readVariableOp(handle, TUint8.class);
    Linear linear = int8 ? Linear.q8(read, in, out) : Linear.q4(read, in, out);
    quantizedByName.put(name, linear);
    return linear;
  }

  /** The packed shape of a quantized [in, out] Linear weight. */
  private long[] packedShape(int in, int out) {
    return quantization == Quantization.INT8 ? Q8Packing.shape(in, out) : Q4Packing.shape(in, out);
  }

  /**
   * Several Linear weights that share an input, fused into one [in, sum out] matrix (the Q/K/V and
   * gate/up projections), in the given order.
   */
  Linear linear(String name, List<WeightTensor> parts) {
    long[] rows = stackedShape(name, parts);
    if (rows.length != 2) {
      throw new IllegalArgumentException(name + ": a linear weight must be 2-d");
    }
    long in = rows[1];
    long out = rows[0];
    if (packForNativeMatMul) {
      return packedForNative(name, parts, in, out);
    }
    Operand<TFloat32> f32 = variable(name, rows, parts, true);
    if (precision == MatmulPrecision.FLOAT32) {
      return new Linear(f32, precision);
    }
    if (!narrowByName.containsKey(name)) {
      totalBytes -= 2 * in * out; // held in 2 bytes per element once converted
    }
    Operand<? extends TType> narrow =
        precision == MatmulPrecision.BFLOAT16
            ? narrowed(name, f32, TBfloat16.class)
            : narrowed(name, f32, TFloat16.class);
    return new Linear(narrow, precision);
  }

  /**
   * The weight packed for the native kernel of its type ({@link ColumnBlockPacking}: column blocks
   * for float16 and float32, pairs of inputs interleaved for bfloat16), on the host while it is
   * read from the checkpoint: only the packed weight reaches the device, with no float32 staging
   * copy and no conversion there.
   */
  private Linear packedForNative(String name, List<WeightTensor> parts, long in, long out) {
    Operand<? extends TType> packed = narrowByName.get(name);
    if (packed == null) {
      packed =
          switch (precision) {
            case FLOAT16 -> columnBlockVariable(name, parts, in, out, TFloat16.class);
            case BFLOAT16 -> columnBlockVariable(name, parts, in, out, TBfloat16.class);
            default -> columnBlockVariable(name, parts, in, out, TFloat32.class);
          };
      totalBytes += precision.weightBytes() * packedElements(in, out);
      narrowByName.put(name, packed);
    }
    return new Linear(packed, precision, Math.toIntExact(out));
  }

  /** The packed shape of an [in, out] Linear weight for the native kernel of its type. */
  private long[] packedNativeShape(long in, long out) {
    return precision == MatmulPrecision.BFLOAT16 && !bf16Columns
        ? ColumnBlockPacking.pairedShape(in, out)
        : ColumnBlockPacking.shape(in, out);
  }

  private long packedElements(long in, long out) {
    return Shape.of(packedNativeShape(in, out)).size();
  }

  private <T extends TType> Operand<T> columnBlockVariable(
      String name, List<WeightTensor> parts, long in, long out, Class<T> type) {
    Ops scope = scope("weights_packed");
    Shape packed = Shape.of(packedNativeShape(in, out));
    VarHandleOp handle =
        scope.varHandleOp(type, packed, VarHandleOp.sharedName("weights_packed:" + name));
    Placeholder<T> feed = scope.placeholder(type, Placeholder.shape(packed));
    packedUploads.add(
        new PackedUpload(
            name,
            Math.toIntExact(in),
            Math.toIntExact(out),
            List.copyOf(parts),
            feed,
            scope.assignVariableOp(handle, feed)));
    return scope.readVariableOp(handle, type);
  }

  /**
   * A copy of the uploaded float32 variable {@code name}'s value {@code value} in the narrower type
   * {@code type}, for the stock ops: filled on the device after the upload, and the float32
   * original is then emptied so it holds no memory.
   */
  private <T extends TType> Operand<? extends TType> narrowed(
      String name, Operand<TFloat32> value, Class<T> type) {
    Operand<? extends TType> existing = narrowByName.get(name);
    if (existing != null) {
      return existing;
    }
    Ops scope = scope("weights_narrow");
    VarHandleOp handle =
        scope.varHandleOp(type, Shape.unknown(), VarHandleOp.sharedName("weights_narrow:" + name));
    conversions.put(name, scope.assignVariableOp(handle, scope.dtypes.cast(value, type)));
    releases.put(
        name,
        scope.assignVariableOp(
            handlesByName.get(name),
            scope.zeros(scope.constant(new int[] {0, 0}), TFloat32.class)));
    Operand<T> read = scope.readVariableOp(handle, type);
    narrowByName.put(name, read);
    return read;
  }

  /**
   * A variable holding the given tensors stacked along axis 0 (each [rows_i, cols...] -> [sum
   * rows_i, cols...]), in the given order.
   */
  Operand<TFloat32> stacked(String name, List<WeightTensor> parts) {
    return variable(name, stackedShape(name, parts), parts, false);
  }

  private static long[] stackedShape(String name, List<WeightTensor> parts) {
    long[] first = parts.get(0).shape();
    long rows = 0;
    for (WeightTensor p : parts) {
      long[] s = p.shape();
      if (s.length != first.length || !Arrays.equals(s, 1, s.length, first, 1, first.length)) {
        throw new IllegalArgumentException(
            "cannot stack " + p.name() + " onto " + parts.get(0).name());
      }
      rows += s[0];
    }
    long[] shape = first.clone();
    shape[0] = rows;
    return shape;
  }

  private Operand<TFloat32> fused(String name, long[] shape, List<WeightTensor> parts) {
    return variable(name, shape, parts, false);
  }

  /**
   * A variable filled from {@code parts} laid end to end in the shape {@code shape}; when {@code
   * transpose}, the 2-d result is stored transposed (the device does the transposing).
   */
  private Operand<TFloat32> variable(
      String name, long[] shape, List<WeightTensor> parts, boolean transpose) {
    Operand<TFloat32> existing = byName.get(name);
    if (existing != null) {
      return existing;
    }
    long elements = 1;
    for (long d : shape) {
      elements *= d;
    }
    long given = 0;
    for (WeightTensor p : parts) {
      given += p.numElements();
    }
    if (given != elements) {
      throw new IllegalArgumentException(
          name + ": " + given + " elements do not fill shape " + Arrays.toString(shape));
    }
    Ops scope = scope("weights");
    Shape s = Shape.of(shape);
    // A float32 staging copy of a weight narrowed for the stock ops is emptied after conversion,
    // so its handle must not pin a shape.
    Shape stored =
        transpose && precision != MatmulPrecision.FLOAT32
            ? Shape.unknown()
            : transpose ? Shape.of(shape[1], shape[0]) : s;
    // Every variable needs its own shared name: handles with an empty one share one resource.
    VarHandleOp handle =
        scope.varHandleOp(
            TFloat32.class, stored, VarHandleOp.sharedName("w" + uploads.size() + ":" + name));
    Placeholder<TFloat32> feed = scope.placeholder(TFloat32.class, Placeholder.shape(s));
    AssignVariableOp assign =
        scope.assignVariableOp(
            handle,
            transpose ? scope.linalg.transpose(feed, scope.constant(new int[] {1, 0})) : feed);
    uploads.add(new Upload(name, s, List.copyOf(parts), feed, assign));
    totalBytes += 4 * elements;
    Operand<TFloat32> read = scope.readVariableOp(handle, TFloat32.class);
    byName.put(name, read);
    handlesByName.put(name, handle);
    return read;
  }

  /**
   * Copies every weight to the device, converting F16/BF16 to F32 on the way (exactly); a weight
   * the stock ops take in bfloat16 or float16 is converted right after its batch's upload, and its
   * float32 copy emptied; a weight for the native matmuls is packed, and a quantized one quantized
   * and packed, on the host. Weights travel in batches of up to {@link #BATCH_BYTES} staged bytes,
   * one session call each.
   *
   * @throws CheckpointException when a weight to quantize holds NaN or infinity (or, for int4, a
   *     magnitude beyond float16's)
   */
  void upload(Session session) throws CheckpointException {
    for (List<Upload> batch : batches(uploads, u -> 4 * u.shape().size())) {
      uploadBatch(session, batch);
    }
    for (List<PackedUpload> batch :
        batches(packedUploads, u -> precision.weightBytes() * packedElements(u.in(), u.out()))) {
      uploadPacked(session, batch);
    }
    for (List<QuantizedUpload> batch :
        batches(quantizedUploads, u -> Shape.of(packedShape(u.in(), u.out())).size())) {
      uploadQuantized(session, batch);
    }
  }

  /**
   * {@code items} in order, cut into runs of at most {@link #BATCH_BYTES} (an item larger alone).
   */
  static <T> List<List<T>> batches(List<T> items, ToLongFunction<T> bytes) {
    List<List<T>> batches = new ArrayList<>();
    List<T> batch = new ArrayList<>();
    long batchBytes = 0;
    for (T item : items) {
      long b = bytes.applyAsLong(item);
      if (!batch.isEmpty() && batchBytes + b > BATCH_BYTES) {
        batches.add(batch);
        batch = new ArrayList<>();
        batchBytes = 0;
      }
      batch.add(item);
      batchBytes += b;
    }
    if (!batch.isEmpty()) {
      batches.add(batch);
    }
    return batches;
  }

  /**
   * Uploads {@code batch} in one session call, then converts the weights of it kept narrower or
   * packed in a second and empties their float32 staging copies in a third.
   */
  private void uploadBatch(Session session, List<Upload> batch) throws CheckpointException {
    List<TFloat32> staged = new ArrayList<>(batch.size());
    try {
      Session.Runner assign = session.runner();
      float[] chunk = new float[CHUNK];
      for (Upload u : batch) {
        TFloat32 t = TFloat32.tensorOf(u.shape());
        staged.add(t);
        FloatDataBuffer dst = t.asRawTensor().data().asFloats();
        long at = 0;
        for (WeightTensor p : u.parts()) {
          long n = p.numElements();
          for (long done = 0; done < n; ) {
            int len = (int) Math.min(CHUNK, n - done);
            p.readFloats(done, chunk, 0, len);
            dst.offset(at + done).write(chunk, 0, len);
            done += len;
          }
          at += n;
        }
        assign.feed(u.feed(), t).addTarget(u.assign());
      }
      assign.run();
    } finally {
      staged.forEach(TFloat32::close);
    }
    Session.Runner convert = session.runner();
    Session.Runner release = session.runner();
    boolean any = false;
    for (Upload u : batch) {
      org.tensorflow.op.Op op = conversions.get(u.name());
      if (op != null) {
        convert.addTarget(op);
        release.addTarget(releases.get(u.name()));
        any = true;
      }
    }
    if (any) {
      convert.run();
      release.run();
    }
  }

  /**
   * Packs {@code batch} on the host in its kernel's layout, then uploads it in one session call.
   */
  private void uploadPacked(Session session, List<PackedUpload> batch) {
    List<TType> packed = new ArrayList<>(batch.size());
    try {
      Session.Runner assign = session.runner();
      for (PackedUpload u : batch) {
        Shape shape = Shape.of(packedNativeShape(u.in(), u.out()));
        if (precision == MatmulPrecision.FLOAT16) {
          TFloat16 t = TFloat16.tensorOf(shape);
          packed.add(t);
          ColumnBlockPacking.packHalf(
              u.parts(), u.in(), u.out(), t.asRawTensor().data().asShorts());
          assign.feed(u.feed(), t);
        } else if (precision == MatmulPrecision.BFLOAT16) {
          TBfloat16 t = TBfloat16.tensorOf(shape);
          packed.add(t);
          if (bf16Columns) {
            ColumnBlockPacking.packBfloat16Columns(
                u.parts(), u.in(), u.out(), t.asRawTensor().data().asShorts());
          } else {
            ColumnBlockPacking.packBfloat16(
                u.parts(), u.in(), u.out(), t.asRawTensor().data().asShorts());
          }
          assign.feed(u.feed(), t);
        } else {
          TFloat32 t = TFloat32.tensorOf(shape);
          packed.add(t);
          ColumnBlockPacking.packFloat(
              u.parts(), u.in(), u.out(), t.asRawTensor().data().asFloats());
          assign.feed(u.feed(), t);
        }
        assign.addTarget(u.assign());
      }
      assign.run();
    } finally {
      packed.forEach(TType::close);
    }
  }

  /** Quantizes and packs {@code batch} on the host, then uploads it in one session call. */
  private void uploadQuantized(Session session, List<QuantizedUpload> batch)
      throws CheckpointException {
    List<TUint8> packed = new ArrayList<>(batch.size());
    try {
      Session.Runner assign = session.runner();
      for (QuantizedUpload u : batch) {
        TUint8 t = TUint8.tensorOf(Shape.of(packedShape(u.in(), u.out())));
        packed.add(t);
        WeightRows rows = rowsOf(u.parts(), u.in());
        if (quantization == Quantization.INT8) {
          Q8Packing.pack(rows, u.in(), u.out(), t.asRawTensor().data());
        } else {
          Q4Packing.pack(rows, u.in(), u.out(), t.asRawTensor().data());
        }
        assign.feed(u.feed(), t).addTarget(u.assign());
      }
      assign.run();
    } finally {
      packed.forEach(TUint8::close);
    }
  }

  /** The rows of {@code parts} stacked, each {@code in} wide, read from the checkpoint. */
  private static WeightRows rowsOf(List<WeightTensor> parts, int in) {
    return new WeightRows() {
      @Override
      public void read(int row, float[] dst) {
        int r = row;
        for (WeightTensor p : parts) {
          if (r < p.dim(0)) {
            p.readFloats((long) r * in, dst, 0, in);
            return;
          }
          r -= (int) p.dim(0);
        }
        throw new IndexOutOfBoundsException("row " + row + " of " + parts.get(0).name());
      }

      @Override
      public String element(int row, int column) {
        int r = row;
        for (WeightTensor p : parts) {
          if (r < p.dim(0)) {
            return p.file() + ": tensor \"" + p.name() + "\": element [" + r + ", " + column + "]";
          }
          r -= (int) p.dim(0);
        }
        return parts.get(0).name() + " row " + row;
      }
    };
  }

  /** Bytes the weights take on the device. */
  long totalBytes() {
    return totalBytes;
  }
}
