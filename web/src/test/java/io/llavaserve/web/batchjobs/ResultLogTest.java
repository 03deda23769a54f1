package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResultLogTest {

  @TempDir Path dir;

  static String line(String id) {
    return new JsonObject().put("custom_id", id).put("response", new JsonObject()).encode() + "\n";
  }

  @Test
  void resumeCutsATornTrailingLineAndKnowsWhatIsDone() throws Exception {
    Path p = dir.resolve("output.jsonl");
    String whole = line("a") + line("b") + line("c");
    Files.writeString(p, whole + line("d").substring(0, 9), StandardCharsets.UTF_8);
    try (ResultLog log = ResultLog.open(DataDisk.NIO, p)) {
      assertEquals(Set.of("a", "b", "c"), log.done());
      assertEquals(whole, Files.readString(p));
      log.append(List.of(new JsonObject(line("d")), new JsonObject(line("e"))));
      assertEquals(5, log.size());
    }
    assertEquals(whole + line("d") + line("e"), Files.readString(p));
  }

  @Test
  void aNewlineEndedLineThatIsNotJsonIsTornToo() throws Exception {
    Path p = dir.resolve("output.jsonl");
    Files.writeString(p, line("a") + "{\"custom_id\":\"b\",\u0000\n" + line("c"));
    try (ResultLog log = ResultLog.open(DataDisk.NIO, p)) {
      assertEquals(Set.of("a"), log.done());
    }
    assertEquals(line("a"), Files.readString(p));
  }

  @Test
  void anAppendTheDiskCannotTakeIsCutOffAndCountsNothing() throws Exception {
    Path p = dir.resolve("output.jsonl");
    FaultyDisk disk = new FaultyDisk();
    try (ResultLog log = ResultLog.open(disk, p)) {
      log.append(List.of(new JsonObject(line("a"))));
      disk.fill(5); // part of the next line fits, then the disk is full
      IOException e =
          assertThrows(
              IOException.class,
              () -> log.append(List.of(new JsonObject(line("b")), new JsonObject(line("c")))));
      assertEquals(FaultyDisk.NO_SPACE, e.getMessage());
      assertEquals(Set.of("a"), log.done());
      assertEquals(line("a"), Files.readString(p));
      disk.free();
      log.append(List.of(new JsonObject(line("b"))));
    }
    assertEquals(line("a") + line("b"), Files.readString(p));
  }

  @Test
  void linesWrittenWholeBeforeTheDiskTurnsReadOnlyAtTheirFsyncCountAsTheNextOpenCountsThem()
      throws Exception {
    Path p = dir.resolve("output.jsonl");
    FaultyDisk disk = new FaultyDisk();
    try (ResultLog log = ResultLog.open(disk, p)) {
      log.append(List.of(new JsonObject(line("a"))));
      disk.turnReadOnlyAtNextSync();
      IOException e =
          assertThrows(
              IOException.class,
              () -> log.append(List.of(new JsonObject(line("b")), new JsonObject(line("c")))));
      assertTrue(e.getMessage().contains(FaultyDisk.READ_ONLY), e.getMessage());
      assertEquals(Set.of("a", "b", "c"), log.done());
    }
    assertEquals(line("a") + line("b") + line("c"), Files.readString(p));
    try (ResultLog again = ResultLog.open(DataDisk.NIO, p)) {
      assertEquals(Set.of("a", "b", "c"), again.done());
    }
  }

  @Test
  void anEmptyOrMissingLogStartsEmpty() throws Exception {
    try (ResultLog log = ResultLog.open(DataDisk.NIO, dir.resolve("none.jsonl"))) {
      assertEquals(0, log.size());
    }
  }
}
