package io.llavaserve.engine.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.SafetensorsFile;
import io.llavaserve.engine.checkpoint.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Everything a killed run needs to go on: where it was (stage and next step), every parameter, the
 * running stage's AdamW moments, and the world vocabulary. Written to a fresh folder and moved into
 * place, so a kill mid-write leaves the previous state whole.
 *
 * @param stage the stage in progress (or the next to start)
 * @param step the next step of that stage
 * @param vocabularyIds the world vocabulary's ids
 * @param params every parameter's values
 * @param shapes every parameter's shape
 * @param moments the running stage's optimizer moments (empty at a stage boundary)
 */
record TrainingState(
    Stage stage,
    long step,
    int[] vocabularyIds,
    Map<String, float[]> params,
    Map<String, long[]> shapes,
    Map<String, float[]> moments) {

  static final String FOLDER = "state";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Writes the state under {@code runDir/state}, replacing the previous one atomically. */
  void save(Path runDir) throws IOException {
    Path target = runDir.resolve(FOLDER);
    Path tmp = Files.createTempDirectory(runDir, FOLDER + ".tmp");
    writeTensors(tmp.resolve("params.safetensors"), params, shapes);
    Map<String, long[]> momentShapes = new LinkedHashMap<>();
    moments.keySet().forEach(k -> momentShapes.put(k, shapes.get(k.substring(k.indexOf('/') + 1))));
    if (!moments.isEmpty()) {
      writeTensors(tmp.resolve("moments.safetensors"), moments, momentShapes);
    }
    ObjectNode progress = JSON.createObjectNode();
    progress.put("stage", stage.name());
    progress.put("step", step);
    var ids = progress.putArray("vocabulary_ids");
    for (int id : vocabularyIds) {
      ids.add(id);
    }
    JSON.writerWithDefaultPrettyPrinter()
        .writeValue(tmp.resolve("progress.json").toFile(), progress);
    Path old = runDir.resolve(FOLDER + ".old");
    deleteTree(old);
    if (Files.exists(target)) {
      Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
    }
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    deleteTree(old);
  }

  /** The state saved under {@code runDir}, if any (a previous one if a save was cut short). */
  static TrainingState load(Path runDir) throws IOException {
    Path dir = runDir.resolve(FOLDER);
    if (!Files.isRegularFile(dir.resolve("progress.json"))) {
      dir = runDir.resolve(FOLDER + ".old");
      if (!Files.isRegularFile(dir.resolve("progress.json"))) {
        return null;
      }
    }
    JsonNode progress = JSON.readTree(dir.resolve("progress.json").toFile());
    int[] ids = new int[progress.get("vocabulary_ids").size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = progress.get("vocabulary_ids").get(i).asInt();
    }
    Map<String, long[]> shapes = new LinkedHashMap<>();
    Map<String, float[]> params = readTensors(dir.resolve("params.safetensors"), shapes);
    Path momentsFile = dir.resolve("moments.safetensors");
    Map<String, float[]> moments =
        Files.exists(momentsFile)
            ? readTensors(momentsFile, new LinkedHashMap<>())
            : new LinkedHashMap<>();
    return new TrainingState(
        Stage.valueOf(progress.get("stage").asText()),
        progress.get("step").asLong(),
        ids,
        params,
        shapes,
        moments);
  }

  private static void writeTensors(
      Path file, Map<String, float[]> values, Map<String, long[]> shapes) throws IOException {
    List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
    values.forEach(
        (name, data) ->
            tensors.add(SafetensorsWriter.Tensor.of(name, DType.F32, shapes.get(name), data)));
    SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
  }

  private static Map<String, float[]> readTensors(Path file, Map<String, long[]> shapes)
      throws IOException {
    Map<String, float[]> out = new LinkedHashMap<>();
    try (SafetensorsFile f = SafetensorsFile.open(file)) {
      for (String name : f.names()) {
        out.put(name, f.tensor(name).toFloatArray());
        shapes.put(name, f.shape(name));
      }
    } catch (CheckpointException e) {
      throw new IOException("cannot read training state " + file + ": " + e.getMessage(), e);
    }
    return out;
  }

  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(q);
      }
    }
  }
}
