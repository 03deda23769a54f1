package io.llavaserve.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SafetensorsFileTest {

  @TempDir Path dir;

  private static float[] values(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) Math.sin(i * 0.37) * (i % 7 + 1) + (i == 3 ? 1e-6f : 0f);
    }
    return v;
  }

  private static float stored(DType dtype, float v) {
    return switch (dtype) {
      case F32 -> v;
      case F16 -> HalfFloats.f16ToFloat(HalfFloats.floatToF16(v));
      case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v));
    };
  }

  private void assertNames(CheckpointException e, Path file, String tensor) {
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains(tensor), e.getMessage());
  }

  @ParameterizedTest
  @EnumSource(DType.class)
  void roundTripsEveryDtype(DType dtype) throws Exception {
    Path file = dir.resolve("t.safetensors");
    float[] a = values(3 * 5);
    float[] b = values(20001); // longer than one conversion chunk
    SafetensorsWriter.write(
        file,
        List.of(
            SafetensorsWriter.Tensor.of("a", dtype, new long[] {3, 5}, a),
            SafetensorsWriter.Tensor.of("b.weight", dtype, new long[] {20001}, b)),
        Map.of("format", "pt"));
    ByteBuffer head = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(0, (8 + head.getLong(0)) % 8, "data starts 8-byte aligned");
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertEquals(List.of("a", "b.weight"), List.copyOf(f.names()));
      assertEquals(Map.of("format", "pt"), f.metadata());
      WeightTensor ta = f.tensor("a");
      assertEquals(dtype, ta.dtype());
      assertArrayEquals(new long[] {3, 5}, ta.shape());
      assertEquals(15, ta.numElements());
      float[] got = ta.toFloatArray();
      for (int i = 0; i < a.length; i++) {
        assertEquals(stored(dtype, a[i]), got[i], 0f);
      }
      WeightTensor tb = f.tensor("b.weight");
      float[] part = new float[10];
      tb.readFloats(19990, part, 2, 8);
      for (int i = 0; i < 8; i++) {
        assertEquals(stored(dtype, b[19990 + i]), part[2 + i], 0f);
      }
      assertEquals(0f, part[0]);
      assertThrows(IndexOutOfBoundsException.class, () -> tb.readFloats(19995, part, 0, 7));
    }
  }

  @Test
  void headerLongerThanTheFileIsRefused() throws Exception {
    Path file = dir.resolve("long.safetensors");
    RawSafetensors.write(file, "{}", new byte[0]);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40), 0);
    }
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file));
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    assertTrue(e.getMessage().contains("header length"), e.getMessage());
  }

  @Test
  void truncatedDataNamesTheTensor() throws Exception {
    Path file = dir.resolve("cut.safetensors");
    SafetensorsWriter.write(
        file,
        List.of(
            SafetensorsWriter.Tensor.of("first", DType.F32, new long[] {4}, values(4)),
            SafetensorsWriter.Tensor.of("last", DType.F32, new long[] {4}, values(4))),
        Map.of());
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 3);
    }
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file));
    assertNames(e, file, "\"last\"");
    assertTrue(e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void offsetsInconsistentWithShapeNameTheTensor() throws Exception {
    Path file = dir.resolve("bad.safetensors");
    RawSafetensors.write(
        file,
        "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}",
        new byte[24]);
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file));
    assertNames(e, file, "\"w\"");
    assertTrue(e.getMessage().contains("needs 24"), e.getMessage());
  }

  @Test
  void duplicateNamesAreRefused() throws Exception {
    Path file = dir.resolve("dup.safetensors");
    String entry = "{\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}";
    RawSafetensors.write(file, "{\"w\": " + entry + ", \"w\": " + entry + "}", new byte[4]);
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file));
    assertNames(e, file, "\"w\"");
    assertTrue(e.getMessage().contains("twice"), e.getMessage());
  }

  @ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(strings = {"I8", "F64", "I64", "F8_E4M3"})
  void unsupportedDtypeIsNamedWhenTheTensorIsAsked(String dtype) throws Exception {
    Path file = dir.resolve("odd.safetensors");
    int size = Map.of("I8", 1, "F64", 8, "I64", 8, "F8_E4M3", 1).get(dtype);
    RawSafetensors.write(
        file,
        List.of(
            new RawSafetensors.Raw("odd", dtype, new long[] {2, 2}, new byte[4 * size]),
            new RawSafetensors.Raw("fine", "F32", new long[] {1}, new byte[4])));
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      assertEquals(0f, f.tensor("fine").toFloatArray()[0]);
      CheckpointException e = assertThrows(CheckpointException.class, () -> f.tensor("odd"));
      assertNames(e, file, "\"odd\"");
      assertTrue(e.getMessage().contains("unsupported dtype " + dtype), e.getMessage());
    }
  }

  @Test
  void garbageIsRefused() throws Exception {
    Path file = dir.resolve("junk.safetensors");
    Files.write(file, new byte[] {1, 2, 3});
    assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file));
    RawSafetensors.write(file, "not json at all", new byte[0]);
    CheckpointException e =
        assertThrows(CheckpointException.class, () -> SafetensorsFile.open(file));
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
  }

  @Test
  void shardBySizeKeepsOrderAndLimit() {
    List<SafetensorsWriter.Tensor> ts =
        List.of(
            SafetensorsWriter.Tensor.of("a", DType.F32, new long[] {4}, values(4)),
            SafetensorsWriter.Tensor.of("b", DType.F32, new long[] {4}, values(4)),
            SafetensorsWriter.Tensor.of("c", DType.F32, new long[] {16}, values(16)),
            SafetensorsWriter.Tensor.of("d", DType.F32, new long[] {1}, values(1)));
    List<List<SafetensorsWriter.Tensor>> shards = SafetensorsWriter.shardBySize(ts, 32);
    assertEquals(3, shards.size());
    assertEquals(2, shards.get(0).size());
    assertEquals("c", shards.get(1).get(0).name());
    assertEquals("d", shards.get(2).get(0).name());
  }
}
