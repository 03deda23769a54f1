package io.llavaserve.cli;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes float32 arrays in NumPy's {@code .npy} format (version 1.0, little-endian, C order). */
final class Npy {

  private Npy() {}

  /** Writes {@code data} (row-major) with the given shape. */
  static void writeFloat32(Path file, long[] shape, FloatSource data) throws IOException {
    long count = 1;
    StringBuilder dims = new StringBuilder("(");
    for (int i = 0; i < shape.length; i++) {
      count *= shape[i];
      dims.append(i == 0 ? "" : ", ").append(shape[i]);
    }
    dims.append(shape.length == 1 ? ",)" : ")");
    String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + dims + ", }";
    int unpadded = 10 + dict.length() + 1;
    int total = (unpadded + 63) / 64 * 64;
    StringBuilder header = new StringBuilder(dict);
    while (10 + header.length() + 1 < total) {
      header.append(' ');
    }
    header.append('\n');
    try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20);
        DataOutputStream out = new DataOutputStream(os)) {
      out.write(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
      byte[] h = header.toString().getBytes(StandardCharsets.US_ASCII);
      out.write(h.length & 0xff);
      out.write((h.length >> 8) & 0xff);
      out.write(h);
      ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
      for (long i = 0; i < count; i++) {
        if (!buf.hasRemaining()) {
          out.write(buf.array(), 0, buf.position());
          buf.clear();
        }
        buf.putFloat(data.get(i));
      }
      out.write(buf.array(), 0, buf.position());
    }
  }

  /** Element {@code i} of a row-major array. */
  interface FloatSource {
    float get(long i);
  }
}
