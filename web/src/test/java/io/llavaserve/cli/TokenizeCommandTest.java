package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizeCommandTest {

  @TempDir static Path dir;
  private static String model;

  @BeforeAll
  static void checkpoint() throws Exception {
    TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny());
    model = dir.resolve("model").toString();
  }

  @Test
  void textGivesTheLlamaIdsWithBosAndTheImageToken() {
    Cli.Run run = Cli.run("tokenize", "--model", model, "--text", "USER: <image>\nWhat");

    assertEquals(0, run.exit(), run.err());
    assertEquals("[[1,3148,1001,29901,29871,32000,29871,13,5618]]", run.out().strip());
  }

  @Test
  void fileWithTwoStringsGivesTwoArrays() throws Exception {
    // "What" at the start of a text is "▁What" (1724); after a newline it is "What" (5618).
    Path file = Files.writeString(dir.resolve("two.json"), "[\"What\", \"USER: hi\"]");

    Cli.Run run = Cli.run("tokenize", "--model", model, "--file", file.toString());

    assertEquals(0, run.exit(), run.err());
    assertEquals("[[1,1724],[1,3148,1001,29901,7251]]", run.out().strip());
  }

  @Test
  void fileThatIsNotAnArrayOfStringsFailsNamingTheFile() throws Exception {
    String[] contents = {
      "{\"text\": \"hi\"}", "[\"a\", 3]", "\"just a string\"", "[\"unterminated"
    };
    for (int i = 0; i < contents.length; i++) {
      Path file = Files.writeString(dir.resolve("bad" + i + ".json"), contents[i]);

      Cli.Run run = Cli.run("tokenize", "--model", model, "--file", file.toString());

      assertNotEquals(0, run.exit(), contents[i]);
      String line = run.errorLine();
      assertTrue(line.contains(file.toString()), line);
      assertTrue(line.contains("expected a JSON array of strings"), line);
      assertEquals("", run.out());
    }
  }

  @Test
  void textAndFileTogetherAreRejected() {
    Cli.Run run = Cli.run("tokenize", "--model", model, "--text", "a", "--file", "b.json");

    assertNotEquals(0, run.exit());
    assertTrue(run.err().contains("mutually exclusive"), run.err());
  }
}
