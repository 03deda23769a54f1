package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Builds safetensors files byte by byte, including malformed ones, for tests. */
final class RawSafetensors {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** One tensor as stored: any dtype string, any bytes. */
  record Raw(String name, String dtype, long[] shape, byte[] bytes) {}

  private RawSafetensors() {}

  /** Every tensor of {@code file}, bytes copied, in header order. */
  static List<Raw> readAll(Path file) throws Exception {
    List<Raw> out = new ArrayList<>();
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      for (String name : f.names()) {
        ByteBuffer data = f.tensor(name).data();
        byte[] bytes = new byte[data.remaining()];
        data.get(bytes);
        out.add(new Raw(name, f.dtypeName(name), f.shape(name), bytes));
      }
    }
    return out;
  }

  static void write(Path file, List<Raw> tensors) throws IOException {
    ObjectNode header = JSON.createObjectNode();
    ByteArrayOutputStream data = new ByteArrayOutputStream();
    for (Raw t : tensors) {
      ObjectNode e = header.putObject(t.name());
      e.put("dtype", t.dtype());
      var shape = e.putArray("shape");
      for (long d : t.shape()) {
        shape.add(d);
      }
      e.putArray("data_offsets").add(data.size()).add(data.size() + t.bytes().length);
      data.write(t.bytes());
    }
    write(file, JSON.writeValueAsString(header), data.toByteArray());
  }

  static void write(Path file, String header, byte[] data) throws IOException {
    byte[] json = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer out = ByteBuffer.allocate(8 + json.length + data.length);
    out.order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json).put(data);
    Files.write(file, out.array());
  }
}
