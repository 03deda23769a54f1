package io.llavaserve.engine.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF file (version 3, little-endian, as llama.cpp reads it): the header, the metadata
 * key-values, the tensor infos, then each tensor's data at an offset aligned to {@code
 * general.alignment} (32). Metadata and tensors are declared first; {@link #write} then streams the
 * data tensor by tensor from each tensor's {@link Source}, so a model larger than memory is never
 * held whole.
 *
 * <p>Dimensions are given as ggml counts them, fastest-varying first: a PyTorch weight of shape
 * {@code [out, in]} is {@code ne = [in, out]}.
 */
public final class GgufWriter {

  /** ggml's {@code GGUF_DEFAULT_ALIGNMENT}. */
  public static final int ALIGNMENT = 32;

  private static final int MAGIC = 0x46554747; // "GGUF" little-endian
  private static final int VERSION = 3;

  // gguf_type ids of metadata values
  static final int UINT32 = 4;
  static final int INT32 = 5;
  static final int FLOAT32 = 6;
  static final int BOOL = 7;
  static final int STRING = 8;
  static final int ARRAY = 9;

  /** Fills a tensor's rows, {@code rows} at a time of {@code ne[0]} elements each. */
  @FunctionalInterface
  public interface Source {
    /**
     * Writes elements {@code [first * rowLength, (first + count) * rowLength)} into {@code dst}.
     */
    void rows(long first, int count, float[] dst) throws IOException;
  }

  private record Tensor(String name, long[] ne, GgufType type, Source source, long bytes) {}

  private final Map<String, Object[]> metadata = new LinkedHashMap<>(); // key -> {type, value}
  private final List<Tensor> tensors = new ArrayList<>();

  public GgufWriter putString(String key, String value) {
    metadata.put(key, new Object[] {STRING, value});
    return this;
  }

  public GgufWriter putUint32(String key, int value) {
    metadata.put(key, new Object[] {UINT32, value});
    return this;
  }

  public GgufWriter putInt32(String key, int value) {
    metadata.put(key, new Object[] {INT32, value});
    return this;
  }

  public GgufWriter putFloat32(String key, float value) {
    metadata.put(key, new Object[] {FLOAT32, value});
    return this;
  }

  public GgufWriter putBool(String key, boolean value) {
    metadata.put(key, new Object[] {BOOL, value});
    return this;
  }

  public GgufWriter putStrings(String key, List<String> values) {
    metadata.put(key, new Object[] {ARRAY, STRING, values});
    return this;
  }

  public GgufWriter putFloats(String key, float[] values) {
    metadata.put(key, new Object[] {ARRAY, FLOAT32, values});
    return this;
  }

  public GgufWriter putInts(String key, int[] values) {
    metadata.put(key, new Object[] {ARRAY, INT32, values});
    return this;
  }

  /**
   * Declares a tensor of {@code ne} (fastest-varying first) stored as {@code type}, its values read
   * from {@code source} when the file is written.
   */
  public GgufWriter tensor(String name, long[] ne, GgufType type, Source source) {
    long rows = 1;
    for (int i = 1; i < ne.length; i++) {
      rows *= ne[i];
    }
    tensors.add(new Tensor(name, ne.clone(), type, source, rows * type.rowBytes(ne[0])));
    return this;
  }

  /** Bytes the tensors' data take in the file, alignment padding included. */
  public long dataBytes() {
    long total = 0;
    for (Tensor t : tensors) {
      total = align(total) + t.bytes();
    }
    return total;
  }

  /** Writes the file, replacing {@code out}. */
  public void write(Path out) throws IOException {
    try (FileChannel ch =
        FileChannel.open(
            out,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      Header h = new Header();
      h.i32(MAGIC).i32(VERSION).i64(tensors.size()).i64(metadata.size());
      for (Map.Entry<String, Object[]> e : metadata.entrySet()) {
        h.string(e.getKey());
        value(h, e.getValue());
      }
      long offset = 0;
      for (Tensor t : tensors) {
        offset = align(offset);
        h.string(t.name()).i32(t.ne().length);
        for (long d : t.ne()) {
          h.i64(d);
        }
        h.i32(t.type().id).i64(offset);
        offset += t.bytes();
      }
      byte[] header = h.bytes();
      ch.write(ByteBuffer.wrap(header));
      long pos = header.length;
      pos = pad(ch, pos);
      for (Tensor t : tensors) {
        pos = pad(ch, pos);
        pos += writeData(ch, t);
      }
    }
  }

  private static long writeData(FileChannel ch, Tensor t) throws IOException {
    long rowLength = t.ne()[0];
    long rows = 1;
    for (int i = 1; i < t.ne().length; i++) {
      rows *= t.ne()[i];
    }
    int perChunk = (int) Math.max(1, Math.min(rows, (1 << 22) / Math.max(1, rowLength)));
    float[] values = new float[Math.toIntExact(perChunk * rowLength)];
    ByteBuffer buf =
        ByteBuffer.allocate(Math.toIntExact(perChunk * t.type().rowBytes(rowLength)))
            .order(ByteOrder.LITTLE_ENDIAN);
    long written = 0;
    for (long r = 0; r < rows; r += perChunk) {
      int count = (int) Math.min(perChunk, rows - r);
      t.source().rows(r, count, values);
      buf.clear();
      t.type().encode(values, 0, Math.toIntExact(count * rowLength), buf);
      buf.flip();
      while (buf.hasRemaining()) {
        written += ch.write(buf);
      }
    }
    return written;
  }

  private static long pad(FileChannel ch, long pos) throws IOException {
    long to = align(pos);
    if (to > pos) {
      ch.write(ByteBuffer.allocate((int) (to - pos)));
    }
    return to;
  }

  static long align(long n) {
    return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
  }

  @SuppressWarnings("unchecked")
  private static void value(Header h, Object[] v) {
    int type = (Integer) v[0];
    h.i32(type);
    switch (type) {
      case STRING -> h.string((String) v[1]);
      case UINT32, INT32 -> h.i32((Integer) v[1]);
      case FLOAT32 -> h.f32((Float) v[1]);
      case BOOL -> h.u8((Boolean) v[1] ? 1 : 0);
      case ARRAY -> {
        int elem = (Integer) v[1];
        h.i32(elem);
        switch (elem) {
          case STRING -> {
            List<String> list = (List<String>) v[2];
            h.i64(list.size());
            list.forEach(h::string);
          }
          case FLOAT32 -> {
            float[] a = (float[]) v[2];
            h.i64(a.length);
            for (float f : a) {
              h.f32(f);
            }
          }
          case INT32 -> {
            int[] a = (int[]) v[2];
            h.i64(a.length);
            for (int x : a) {
              h.i32(x);
            }
          }
          default -> throw new IllegalStateException("array of " + elem);
        }
      }
      default -> throw new IllegalStateException("value type " + type);
    }
  }

  /** The header and metadata, little-endian, growing as needed. */
  private static final class Header {
    private ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

    private ByteBuffer room(int n) {
      if (buf.remaining() < n) {
        ByteBuffer bigger =
            ByteBuffer.allocate(Math.max(buf.capacity() * 2, buf.position() + n))
                .order(ByteOrder.LITTLE_ENDIAN);
        buf.flip();
        bigger.put(buf);
        buf = bigger;
      }
      return buf;
    }

    Header u8(int v) {
      room(1).put((byte) v);
      return this;
    }

    Header i32(int v) {
      room(4).putInt(v);
      return this;
    }

    Header i64(long v) {
      room(8).putLong(v);
      return this;
    }

    Header f32(float v) {
      room(4).putFloat(v);
      return this;
    }

    Header string(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      i64(b.length);
      room(b.length).put(b);
      return this;
    }

    byte[] bytes() {
      byte[] out = new byte[buf.position()];
      buf.flip();
      buf.get(out);
      return out;
    }
  }
}
