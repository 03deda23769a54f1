package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.gguf.GgufType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench llamacpp} end to end on the tiny model, with a stand-in for node that checks it was
 * handed a GGUF file and answers as llama.cpp's script does: the export, this server's own
 * measurements and the ratios. (The real llama.cpp side needs node and npm, which CI does not.)
 */
class BenchLlamaCppCommandTest {

  @TempDir Path dir;

  @Test
  void eachFormatRunsAgainstItsCounterpart() {
    assertEquals(
        Map.of("model.matmul-precision", "float32"),
        BenchLlamaCppCommand.counterpart(GgufType.F32));
    assertEquals(
        Map.of("model.matmul-precision", "auto"), BenchLlamaCppCommand.counterpart(GgufType.F16));
    assertEquals(
        Map.of("model.quantization", "int8"), BenchLlamaCppCommand.counterpart(GgufType.Q8_0));
    assertEquals(
        Map.of("model.quantization", "int4"), BenchLlamaCppCommand.counterpart(GgufType.Q4_0));
  }

  @Test
  @Timeout(300)
  void measuresBothSidesAndPrintsTheRatios() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("m"), TinySpec.tiny()).toString();
    Path script = Files.writeString(dir.resolve("bench.mjs"), "// stand-in\n");
    Path node = dir.resolve("node");
    Files.writeString(
        node,
        "#!/bin/sh\n"
            + "# bench.mjs --model FILE --parallel P\n"
            + "head -c 4 \"$3\" | grep -q GGUF || exit 3\n"
            + "echo 'loading'\n"
            + "echo '{\"prefillTokensPerSec\": 100, \"decodeTokensPerSec\": 10,"
            + " \"bestParallelTokensPerSec\": 20}'\n");
    Files.setPosixFilePermissions(node, PosixFilePermissions.fromString("rwxr-xr-x"));

    Cli.Run run =
        Cli.run(
            "bench",
            "llamacpp",
            "--model",
            model,
            "--formats",
            "f16,q8_0",
            "--streams",
            "4",
            "--script",
            script.toString(),
            "--node",
            node.toString(),
            "--work-dir",
            dir.resolve("gguf").toString());

    assertEquals(0, run.exit(), run.err() + run.out());
    assertTrue(run.out().contains("output tok/s, 4 streams"), run.out());
    for (String format : new String[] {"F16", "Q8_0"}) {
      String row =
          run.out().lines().filter(l -> l.startsWith(format + " ")).findFirst().orElseThrow();
      assertTrue(row.matches(format + " +100\\.0 / [0-9.]+ \\([0-9.]+x\\) +10\\.0 / .*"), row);
    }
    Path failing = dir.resolve("failing-node");
    Files.writeString(failing, "#!/bin/sh\nexit 1\n");
    Files.setPosixFilePermissions(failing, PosixFilePermissions.fromString("rwxr-xr-x"));
    Cli.Run failed =
        Cli.run(
            "bench",
            "llamacpp",
            "--model",
            model,
            "--formats",
            "f16",
            "--script",
            script.toString(),
            "--node",
            failing.toString());
    assertNotEquals(0, failed.exit());
    assertTrue((failed.err() + failed.out()).contains("npm install"), failed.err());
  }
}
