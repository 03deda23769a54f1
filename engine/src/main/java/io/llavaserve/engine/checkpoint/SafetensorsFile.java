package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One {@code .safetensors} file: an 8-byte little-endian header length, a JSON header that gives
 * each tensor's dtype, shape and byte range, then the tensors' bytes. The header is checked whole
 * at open; each tensor is memory-mapped on its own when asked for, so files of any size work (a
 * single tensor must stay under 2 GiB, a ByteBuffer's limit).
 *
 * <p>Mappings outlive {@link #close()}: a {@link WeightTensor} stays readable until collected.
 */
public final class SafetensorsFile implements AutoCloseable {

  /** safetensors' own cap on the header, which also guards against garbage lengths. */
  static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

  /** Element sizes of the dtypes we do not load, so their byte ranges can still be checked. */
  private static final Map<String, Integer> OTHER_DTYPE_SIZES =
      Map.ofEntries(
          Map.entry("F64", 8),
          Map.entry("I64", 8),
          Map.entry("U64", 8),
          Map.entry("I32", 4),
          Map.entry("U32", 4),
          Map.entry("I16", 2),
          Map.entry("U16", 2),
          Map.entry("I8", 1),
          Map.entry("U8", 1),
          Map.entry("BOOL", 1),
          Map.entry("F8_E4M3", 1),
          Map.entry("F8_E5M2", 1));

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Where one tensor lies; {@code begin} and {@code end} are relative to the data section. */
  private record Entry(String dtype, long[] shape, long begin, long end) {}

  private final Path file;
  private final FileChannel channel;
  private final long dataStart;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata;

  private SafetensorsFile(
      Path file,
      FileChannel channel,
      long dataStart,
      Map<String, Entry> entries,
      Map<String, String> metadata) {
    this.file = file;
    this.channel = channel;
    this.dataStart = dataStart;
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Opens and validates {@code file}'s header; no tensor bytes are read yet. */
  public static SafetensorsFile open(Path file) throws CheckpointException {
    FileChannel channel;
    try {
      channel = FileChannel.open(file, StandardOpenOption.READ);
    } catch (IOException e) {
      throw new CheckpointException(file + ": cannot open: " + e, e);
    }
    try {
      SafetensorsFile opened = read(file, channel);
      channel = null;
      return opened;
    } catch (IOException e) {
      throw new CheckpointException(file + ": cannot read: " + e, e);
    } finally {
      if (channel != null) {
        try {
          channel.close();
        } catch (IOException ignored) {
          // The open already failed; that is the error to report.
        }
      }
    }
  }

  private static SafetensorsFile read(Path file, FileChannel channel)
      throws IOException, CheckpointException {
    long size = channel.size();
    if (size < 8) {
      throw new CheckpointException(
          file + ": " + size + " bytes, too short for a safetensors header length");
    }
    ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    readFully(channel, lengthBytes, 0);
    long headerLength = lengthBytes.getLong(0);
    if (headerLength < 2 || headerLength > size - 8 || headerLength > MAX_HEADER_BYTES) {
      throw new CheckpointException(
          file
              + ": header length "
              + Long.toUnsignedString(headerLength)
              + " does not fit in the file's "
              + size
              + " bytes (truncated or not safetensors)");
    }
    ByteBuffer header = ByteBuffer.allocate((int) headerLength);
    readFully(channel, header, 8);
    JsonNode root;
    try {
      root = JSON.readTree(header.array());
    } catch (IOException e) {
      throw new CheckpointException(file + ": header is not valid JSON: " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new CheckpointException(file + ": header is not a JSON object");
    }
    long dataStart = 8 + headerLength;
    long dataSize = size - dataStart;
    Map<String, Entry> entries = new LinkedHashMap<>();
    Map<String, String> metadata = new LinkedHashMap<>();
    checkDuplicateKeys(file, header.array());
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> field = it.next();
      String name = field.getKey();
      if (name.equals("__metadata__")) {
        field
            .getValue()
            .fields()
            .forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
        continue;
      }
      entries.put(name, entry(file, name, field.getValue(), dataSize));
    }
    return new SafetensorsFile(
        file, channel, dataStart, Collections.unmodifiableMap(entries), Map.copyOf(metadata));
  }

  private static Entry entry(Path file, String name, JsonNode node, long dataSize)
      throws CheckpointException {
    JsonNode dtype = node.get("dtype");
    JsonNode shapeNode = node.get("shape");
    JsonNode offsets = node.get("data_offsets");
    if (dtype == null
        || !dtype.isTextual()
        || shapeNode == null
        || !shapeNode.isArray()
        || offsets == null
        || !offsets.isArray()
        || offsets.size() != 2) {
      throw CheckpointException.tensor(
          file, name, "header entry needs dtype, shape and two data_offsets: " + node);
    }
    long[] shape = new long[shapeNode.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = shapeNode.get(i).asLong(-1);
      if (!shapeNode.get(i).canConvertToLong() || shape[i] < 0) {
        throw CheckpointException.tensor(file, name, "bad shape " + shapeNode);
      }
    }
    long begin = offsets.get(0).asLong(-1);
    long end = offsets.get(1).asLong(-1);
    if (begin < 0 || end < begin) {
      throw CheckpointException.tensor(file, name, "bad data_offsets " + offsets);
    }
    if (end > dataSize) {
      throw CheckpointException.tensor(
          file,
          name,
          "data_offsets "
              + offsets
              + " run past the end of the data ("
              + dataSize
              + " bytes): the file is truncated");
    }
    String type = dtype.asText();
    Integer elementSize =
        DType.fromSafetensors(type).map(DType::byteSize).orElse(OTHER_DTYPE_SIZES.get(type));
    if (elementSize != null) {
      long expected;
      try {
        expected = Math.multiplyExact(WeightTensor.count(shape), elementSize);
      } catch (ArithmeticException e) {
        throw CheckpointException.tensor(
            file, name, "shape " + Arrays.toString(shape) + " overflows");
      }
      if (end - begin != expected) {
        throw CheckpointException.tensor(
            file,
            name,
            "data_offsets "
                + offsets
                + " hold "
                + (end - begin)
                + " bytes but shape "
                + Arrays.toString(shape)
                + " of "
                + type
                + " needs "
                + expected);
      }
    }
    return new Entry(type, shape, begin, end);
  }

  /** Looks for repeated names in the raw header, since a JSON tree keeps only the last. */
  private static void checkDuplicateKeys(Path file, byte[] header) throws CheckpointException {
    try (var parser = JSON.getFactory().createParser(header)) {
      parser.nextToken(); // START_OBJECT
      Set<String> names = new HashSet<>();
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String name = parser.getCurrentName();
        if (!names.add(name)) {
          throw CheckpointException.tensor(file, name, "appears twice in the header");
        }
        parser.nextToken();
        parser.skipChildren();
      }
    } catch (IOException e) {
      throw new CheckpointException(file + ": header is not valid JSON: " + e.getMessage(), e);
    }
  }

  private static void readFully(FileChannel channel, ByteBuffer dst, long position)
      throws IOException {
    while (dst.hasRemaining()) {
      int n = channel.read(dst, position + dst.position());
      if (n < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }

  public Path file() {
    return file;
  }

  /** Tensor names in header order. */
  public Set<String> names() {
    return entries.keySet();
  }

  public boolean contains(String name) {
    return entries.containsKey(name);
  }

  /** The header's {@code __metadata__} (e.g. {@code format: pt}); empty when absent. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** The header's dtype string for {@code name}, which may be one we cannot load. */
  public String dtypeName(String name) {
    return require(name).dtype();
  }

  /** The tensor's shape as the header gives it. */
  public long[] shape(String name) {
    return require(name).shape().clone();
  }

  /**
   * Maps the tensor {@code name}.
   *
   * @throws CheckpointException naming this file and the tensor when it is absent, of an
   *     unsupported dtype, or over 2 GiB
   */
  public WeightTensor tensor(String name) throws CheckpointException {
    Entry e = entries.get(name);
    if (e == null) {
      throw CheckpointException.tensor(file, name, "not in this file");
    }
    DType dtype =
        DType.fromSafetensors(e.dtype())
            .orElseThrow(
                () ->
                    CheckpointException.tensor(
                        file,
                        name,
                        "unsupported dtype " + e.dtype() + " (supported: F32, F16, BF16)"));
    long length = e.end() - e.begin();
    if (length > Integer.MAX_VALUE) {
      throw CheckpointException.tensor(
          file, name, length + " bytes; tensors over 2 GiB are not supported");
    }
    ByteBuffer bytes;
    try {
      bytes = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(), length);
    } catch (IOException ex) {
      throw CheckpointException.tensor(file, name, "cannot map: " + ex);
    }
    return new WeightTensor(name, file, dtype, e.shape(), bytes.order(ByteOrder.LITTLE_ENDIAN));
  }

  private Entry require(String name) {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IllegalArgumentException(file + ": no tensor \"" + name + "\"");
    }
    return e;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
