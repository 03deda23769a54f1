package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The resumable state on disk: what is saved is what loads, at a stage boundary (no optimizer
 * moments) as in the middle of a stage, and a save cut short between its two moves leaves the
 * previous state loadable.
 */
class TrainingStateTest {

  @TempDir Path runDir;

  private static final Map<String, long[]> SHAPES =
      Map.of("a.weight", new long[] {2, 3}, "b.bias", new long[] {3});

  private static Map<String, float[]> params(float base) {
    Map<String, float[]> m = new LinkedHashMap<>();
    m.put("a.weight", new float[] {base, 1, 2, 3, 4, 5});
    m.put("b.bias", new float[] {-base, 0.5f, 7});
    return m;
  }

  @Test
  void aStateSavedBetweenStagesWithoutMomentsLoadsBack() throws Exception {
    new TrainingState(Stage.ALIGN, 0, new int[] {1, 5, 9}, params(1), SHAPES, Map.of())
        .save(runDir);
    TrainingState loaded = TrainingState.load(runDir);
    assertEquals(Stage.ALIGN, loaded.stage());
    assertEquals(0, loaded.step());
    assertArrayEquals(new int[] {1, 5, 9}, loaded.vocabularyIds());
    assertArrayEquals(params(1).get("a.weight"), loaded.params().get("a.weight"));
    assertArrayEquals(new long[] {2, 3}, loaded.shapes().get("a.weight"));
    assertTrue(loaded.moments().isEmpty(), "no moments at a stage boundary");
  }

  @Test
  void aStateSavedMidStageLoadsItsMoments() throws Exception {
    Map<String, float[]> moments = new LinkedHashMap<>();
    moments.put("adam_m/b.bias", new float[] {0.1f, 0.2f, 0.3f});
    moments.put("adam_v/b.bias", new float[] {1e-3f, 2e-3f, 3e-3f});
    new TrainingState(Stage.INSTRUCT, 17, new int[] {4}, params(2), SHAPES, moments).save(runDir);
    TrainingState loaded = TrainingState.load(runDir);
    assertEquals(Stage.INSTRUCT, loaded.stage());
    assertEquals(17, loaded.step());
    assertEquals(moments.keySet(), loaded.moments().keySet());
    assertArrayEquals(moments.get("adam_v/b.bias"), loaded.moments().get("adam_v/b.bias"));
  }

  @Test
  void aSaveCutShortBetweenItsMovesLeavesThePreviousStateLoadable() throws Exception {
    assertNull(TrainingState.load(runDir), "nothing saved yet");
    new TrainingState(Stage.TEXT, 3, new int[] {4}, params(3), SHAPES, Map.of()).save(runDir);
    // What a kill leaves after the save moved the current state aside and before the new one
    // took its place.
    Files.move(runDir.resolve("state"), runDir.resolve("state.old"));
    TrainingState loaded = TrainingState.load(runDir);
    assertEquals(Stage.TEXT, loaded.stage());
    assertEquals(3, loaded.step());
    assertArrayEquals(params(3).get("b.bias"), loaded.params().get("b.bias"));
  }
}
