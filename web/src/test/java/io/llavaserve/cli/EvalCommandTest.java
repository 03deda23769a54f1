package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.training.world.QuestionType;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalCommandTest {

  @TempDir static Path dir;
  private static String model;

  @BeforeAll
  static void checkpoint() throws Exception {
    model = TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny()).toString();
  }

  @Test
  void aRandomCheckpointIsScoredOnEveryQuestionTypeThroughTheEngine() {
    Cli.Run run = Cli.run("eval", "--model", model, "--kv-cache-mb", "16", "--per-type", "2");

    assertEquals(0, run.exit(), run.err());
    int types = QuestionType.values().length;
    assertTrue(run.out().contains(2 * types + " short-answer questions"), run.out());
    assertTrue(run.out().contains(2 * types + " questions in "), run.out());
    assertTrue(run.out().contains("questions/s"), run.out());
    List<String> header = row(run.out(), "type");
    assertEquals(List.of("type", "n", "exact match %"), header);
    for (QuestionType t : QuestionType.values()) {
      List<String> row = row(run.out(), EvalScores.typeName(t));
      assertEquals("2", row.get(1), run.out());
      double percent = Double.parseDouble(row.get(2));
      assertTrue(percent >= 0 && percent <= 100, run.out());
    }
    assertEquals("" + 2 * types, row(run.out(), "overall").get(1), run.out());
    assertTrue(run.out().lines().noneMatch(l -> l.startsWith("detail")), run.out());
  }

  @Test
  void compareAddsAColumnForTheSecondCheckpointAndDetailAddsTheDescriptionRow() throws Exception {
    Path other = TinyCheckpoint.write(dir.resolve("other"), TinySpec.tiny().withSeed(3));

    Cli.Run run =
        Cli.run(
            "eval",
            "--model",
            model,
            "--compare",
            other.toString(),
            "--kv-cache-mb",
            "16",
            "--per-type",
            "1",
            "--detail");

    assertEquals(0, run.exit(), run.err());
    assertEquals(
        List.of("type", "n", "tiny exact match %", "other exact match %"), row(run.out(), "type"));
    assertTrue(run.out().contains("and 1 detailed descriptions"), run.out());
    List<String> detail = row(run.out(), "detail (shapes named %)");
    assertEquals(4, detail.size(), run.out());
    assertEquals("1", detail.get(1), run.out());
    assertTrue(run.out().contains(other + ": "), run.out());
  }

  @Test
  void aPerTypeBelowOneIsNamed() {
    Cli.Run run = Cli.run("eval", "--model", model, "--per-type", "0");

    assertEquals(2, run.exit());
    assertTrue(run.errorLine().contains("--per-type"), run.err());
  }

  @Test
  void sidesPickTheImageSizesOfTheHeldOutSet() {
    String[] args = {"eval", "--model", model, "--kv-cache-mb", "16", "--per-type", "1"};
    Cli.Run run = Cli.run(with(args, "--sides", "96-128"));

    assertEquals(0, run.exit(), run.err());
    assertTrue(run.out().contains("sides 96-128 px"), run.out());
    Cli.Run wide = Cli.run(with(args, "--sides", "96-128", "--wide-colors"));
    assertEquals(0, wide.exit(), wide.err());
    assertTrue(
        wide.out().contains("sides 96-128 px, fills from the wide colour ranges"), wide.out());
    assertTrue(wide.out().contains("overall"), wide.out());
    assertEquals(96, EvalCommand.parseSides("96").min());
    assertEquals(96, EvalCommand.parseSides("96").max());
  }

  @Test
  void sidesOutsideTheWorldOrMalformedAreNamed() {
    for (String bad : new String[] {"32-128", "128-64", "wide", "1-2-3"}) {
      Cli.Run run = Cli.run("eval", "--model", model, "--sides", bad);

      assertEquals(2, run.exit(), bad);
      assertTrue(run.errorLine().contains("--sides"), bad + ": " + run.err());
    }
  }

  /** The table row whose first cell is {@code first}, split into cells. */
  private static List<String> row(String out, String first) {
    return out.lines()
        .map(l -> List.of(l.split("\\|")).stream().map(String::strip).toList())
        .filter(cells -> cells.size() > 2 && cells.get(0).equals(first))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no row " + first + " in:\n" + out));
  }

  private static String[] with(String[] base, String... more) {
    String[] all = java.util.Arrays.copyOf(base, base.length + more.length);
    System.arraycopy(more, 0, all, base.length, more.length);
    return all;
  }
}
