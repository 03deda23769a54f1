package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.SafetensorsWriter;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.WeightShapes;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PretrainedTowerTest {

  private static final TrainingSpec SPEC = TrainingSpec.smoke();

  private static Map<String, long[]> shapes() {
    return SPEC.shapes(new WorldVocabulary(List.of(1, 2, 3), SPEC.config().text().vocabSize()));
  }

  @Test
  void everyTowerTensorOfALlavaCheckpointAndNothingElse(@TempDir Path dir) throws Exception {
    TinyCheckpoint.write(dir, SPEC.model());
    Map<String, long[]> shapes = shapes();

    Map<String, float[]> tower = PretrainedTower.load(dir, shapes);

    long wanted = shapes.keySet().stream().filter(n -> n.startsWith(WeightShapes.VISION)).count();
    assertEquals(wanted, tower.size());
    assertTrue(tower.keySet().stream().allMatch(n -> n.startsWith(WeightShapes.VISION)));
    try (Checkpoint c = Checkpoint.open(dir)) {
      for (var e : tower.entrySet()) {
        assertArrayEquals(c.tensor(e.getKey()).toFloatArray(), e.getValue(), 0f, e.getKey());
      }
    }
  }

  @Test
  void aVisionModelsOwnNamesLoadToo(@TempDir Path dir) throws Exception {
    Map<String, long[]> shapes = shapes();
    List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
    int i = 0;
    for (var e : shapes.entrySet()) {
      if (e.getKey().startsWith(WeightShapes.VISION)) {
        float[] values =
            new float[(int) java.util.Arrays.stream(e.getValue()).reduce(1, (a, b) -> a * b)];
        java.util.Arrays.fill(values, ++i);
        String stored = "vision_model." + e.getKey().substring(WeightShapes.VISION.length());
        tensors.add(SafetensorsWriter.Tensor.of(stored, DType.F32, e.getValue(), values));
      }
    }
    tensors.add(
        SafetensorsWriter.Tensor.of("text_model.x", DType.F32, new long[] {2}, new float[2]));
    SafetensorsWriter.write(dir.resolve("model.safetensors"), tensors, Map.of());

    Map<String, float[]> tower = PretrainedTower.load(dir, shapes);

    assertEquals(tensors.size() - 1, tower.size());
    assertEquals(1f, tower.values().iterator().next()[0]);
  }

  @Test
  void aTowerOfOtherDimensionsOrNoneIsRefusedByName(@TempDir Path dir) throws Exception {
    TinyCheckpoint.write(dir.resolve("bigger"), TrainingSpec.standard().model());
    IOException wrong =
        assertThrows(
            IOException.class, () -> PretrainedTower.load(dir.resolve("bigger"), shapes()));
    assertTrue(wrong.getMessage().contains("the model needs"), wrong.getMessage());
    assertTrue(wrong.getMessage().contains("vision_tower.vision_model."), wrong.getMessage());

    java.nio.file.Files.createDirectories(dir.resolve("empty"));
    SafetensorsWriter.write(
        dir.resolve("empty").resolve("model.safetensors"),
        List.of(
            SafetensorsWriter.Tensor.of("lm_head.weight", DType.F32, new long[] {1}, new float[1])),
        Map.of());
    IOException missing =
        assertThrows(IOException.class, () -> PretrainedTower.load(dir.resolve("empty"), shapes()));
    assertTrue(
        missing.getMessage().contains("of the tensors it needs are missing"), missing.getMessage());
  }
}
