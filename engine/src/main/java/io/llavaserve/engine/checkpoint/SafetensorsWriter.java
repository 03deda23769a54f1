package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files as Hugging Face's writer does: the header padded with spaces so the data
 * starts 8-byte aligned, tensors back to back in the order given. Values are streamed chunk by
 * chunk from a {@link Values} source to the file channel, so writing a large model needs no more
 * heap than one chunk.
 */
public final class SafetensorsWriter {

  /** Name of the index that maps each tensor to its shard. */
  public static final String INDEX_FILE = "model.safetensors.index.json";

  /** Name of an unsharded checkpoint's single file. */
  public static final String SINGLE_FILE = "model.safetensors";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int CHUNK_ELEMENTS = 1 << 16;

  private SafetensorsWriter() {}

  /** A tensor's values in row-major order, handed out in consecutive runs. */
  @FunctionalInterface
  public interface Values {
    /** Writes the next {@code length} values into {@code dst[0, length)}. */
    void next(float[] dst, int length);
  }

  /** One tensor to write; {@code dtype} is the stored type (values round to nearest even). */
  public record Tensor(String name, DType dtype, long[] shape, Values values) {
    public Tensor {
      shape = shape.clone();
    }

    /** A tensor with values from an array already in memory. */
    public static Tensor of(String name, DType dtype, long[] shape, float[] data) {
      if (WeightTensor.count(shape) != data.length) {
        throw new IllegalArgumentException(
            name + ": " + data.length + " values for shape " + java.util.Arrays.toString(shape));
      }
      int[] next = {0};
      return new Tensor(
          name,
          dtype,
          shape,
          (dst, length) -> {
            System.arraycopy(data, next[0], dst, 0, length);
            next[0] += length;
          });
    }

    public long numElements() {
      return WeightTensor.count(shape);
    }

    public long byteSize() {
      return numElements() * dtype.byteSize();
    }
  }

  /** Writes {@code tensors} to one file, with {@code metadata} as {@code __metadata__}. */
  public static void write(Path file, List<Tensor> tensors, Map<String, String> metadata)
      throws IOException {
    ObjectNode header = JSON.createObjectNode();
    ObjectNode meta = header.putObject("__metadata__");
    metadata.forEach(meta::put);
    long offset = 0;
    for (Tensor t : tensors) {
      if (header.has(t.name())) {
        throw new IllegalArgumentException("tensor \"" + t.name() + "\" given twice");
      }
      ObjectNode entry = header.putObject(t.name());
      entry.put("dtype", t.dtype().name());
      ArrayNode shape = entry.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      entry.putArray("data_offsets").add(offset).add(offset + t.byteSize());
      offset += t.byteSize();
    }
    byte[] json = JSON.writeValueAsBytes(header);
    int padded = (json.length + 8 + 7) / 8 * 8 - 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    head.flip();
    try (FileChannel out =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      writeFully(out, head);
      ByteBuffer bytes =
          ByteBuffer.allocateDirect(CHUNK_ELEMENTS * 4).order(ByteOrder.LITTLE_ENDIAN);
      float[] chunk = new float[CHUNK_ELEMENTS];
      for (Tensor t : tensors) {
        for (long left = t.numElements(); left > 0; ) {
          int k = (int) Math.min(CHUNK_ELEMENTS, left);
          t.values().next(chunk, k);
          bytes.clear();
          encode(t.dtype(), chunk, k, bytes);
          bytes.flip();
          writeFully(out, bytes);
          left -= k;
        }
      }
    }
  }

  /**
   * Writes {@code shards} as given: one shard becomes {@code model.safetensors}; several become
   * {@code model-0000i-of-0000n.safetensors} plus {@code model.safetensors.index.json}.
   *
   * @return the files written, index last
   */
  public static List<Path> writeShards(Path dir, List<List<Tensor>> shards) throws IOException {
    Files.createDirectories(dir);
    Map<String, String> format = Map.of("format", "pt");
    List<Path> written = new ArrayList<>();
    if (shards.size() == 1) {
      Path file = dir.resolve(SINGLE_FILE);
      write(file, shards.get(0), format);
      written.add(file);
      return written;
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    long total = 0;
    for (int i = 0; i < shards.size(); i++) {
      String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
      Path file = dir.resolve(name);
      write(file, shards.get(i), format);
      written.add(file);
      for (Tensor t : shards.get(i)) {
        weightMap.put(t.name(), name);
        total += t.byteSize();
      }
    }
    ObjectNode index = JSON.createObjectNode();
    index.putObject("metadata").put("total_size", total);
    ObjectNode map = index.putObject("weight_map");
    weightMap.forEach(map::put);
    Path indexFile = dir.resolve(INDEX_FILE);
    JSON.writerWithDefaultPrettyPrinter().writeValue(indexFile.toFile(), index);
    written.add(indexFile);
    return written;
  }

  /**
   * Splits {@code tensors} into shards of at most {@code maxShardBytes} each, in order, as
   * transformers' {@code save_pretrained(max_shard_size=...)} does; a tensor bigger than the limit
   * gets a shard of its own.
   */
  public static List<List<Tensor>> shardBySize(List<Tensor> tensors, long maxShardBytes) {
    List<List<Tensor>> shards = new ArrayList<>();
    List<Tensor> current = new ArrayList<>();
    long size = 0;
    for (Tensor t : tensors) {
      if (!current.isEmpty() && size + t.byteSize() > maxShardBytes) {
        shards.add(current);
        current = new ArrayList<>();
        size = 0;
      }
      current.add(t);
      size += t.byteSize();
    }
    if (!current.isEmpty() || shards.isEmpty()) {
      shards.add(current);
    }
    return shards;
  }

  private static void encode(DType dtype, float[] values, int length, ByteBuffer out) {
    switch (dtype) {
      case F32 -> {
        for (int i = 0; i < length; i++) {
          out.putFloat(values[i]);
        }
      }
      case F16 -> {
        for (int i = 0; i < length; i++) {
          out.putShort(HalfFloats.floatToF16(values[i]));
        }
      }
      case BF16 -> {
        for (int i = 0; i < length; i++) {
          out.putShort(HalfFloats.floatToBf16(values[i]));
        }
      }
    }
  }

  private static void writeFully(FileChannel out, ByteBuffer bytes) throws IOException {
    while (bytes.hasRemaining()) {
      out.write(bytes);
    }
  }
}
