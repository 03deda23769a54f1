package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.checkpoint.SafetensorsFile;
import io.llavaserve.engine.checkpoint.WeightNaming;
import io.llavaserve.engine.checkpoint.WeightShapes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * A pretrained vision tower for a new run, as LLaVA starts from a pretrained CLIP: every tensor of
 * the tower read from a checkpoint folder, in any of the layouts the server loads (llava-hf, newer
 * transformers, the original repository's) or a vision model's own ({@code vision_model.*}, as
 * transformers' {@code CLIPVisionModel}, {@code CLIPModel} and {@code SiglipModel} store it).
 */
final class PretrainedTower {

  private static final String VISION_MODEL = "vision_model.";

  private PretrainedTower() {}

  /**
   * The tower's tensors of {@code shapes} (every name under {@link WeightShapes#VISION}) from the
   * {@code *.safetensors} files in {@code dir}, as float32.
   *
   * @throws IOException naming the folder and the tensor when one is missing or of another shape
   */
  static Map<String, float[]> load(Path dir, Map<String, long[]> shapes) throws IOException {
    Map<String, long[]> tower = new LinkedHashMap<>();
    shapes.forEach(
        (name, shape) -> {
          if (name.startsWith(WeightShapes.VISION)) {
            tower.put(name, shape);
          }
        });
    return read("--vision-tower", dir, tower, PretrainedTower::canonical);
  }

  /**
   * Every tensor of {@code wanted} from the {@code *.safetensors} files in {@code dir}, as float32,
   * each stored name mapped to the wanted one by {@code canonical}.
   *
   * @param flag the option that named {@code dir}, for the messages
   * @throws IOException naming the folder and the tensor when one is missing or of another shape
   */
  static Map<String, float[]> read(
      String flag,
      Path dir,
      Map<String, long[]> wanted,
      Function<String, Optional<String>> canonical)
      throws IOException {
    return read(flag, dir, wanted, java.util.Set.of(), canonical);
  }

  /**
   * As {@link #read(String, Path, Map, Function)}, except that the names in {@code optional} may be
   * absent from the folder (then absent from the result too).
   */
  static Map<String, float[]> read(
      String flag,
      Path dir,
      Map<String, long[]> wanted,
      java.util.Set<String> optional,
      Function<String, Optional<String>> canonical)
      throws IOException {
    List<Path> files = files(flag, dir);
    if (files.isEmpty()) {
      throw new IOException(flag + " " + dir + ": no *.safetensors files");
    }
    Map<String, float[]> out = new LinkedHashMap<>();
    try {
      for (Path file : files) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
          for (String stored : f.names()) {
            Optional<String> name = canonical.apply(stored).filter(wanted::containsKey);
            if (name.isEmpty()) {
              continue;
            }
            long[] want = wanted.get(name.get());
            if (!Arrays.equals(want, f.shape(stored))) {
              throw new IOException(
                  String.format(
                      "%s %s: %s is %s in %s, the model needs %s",
                      flag,
                      dir,
                      stored,
                      Arrays.toString(f.shape(stored)),
                      file.getFileName(),
                      Arrays.toString(want)));
            }
            if (out.put(name.get(), f.tensor(stored).toFloatArray()) != null) {
              throw new IOException(flag + " " + dir + ": " + name.get() + " is stored twice");
            }
          }
        }
      }
    } catch (CheckpointException e) {
      throw new IOException(flag + " " + dir + ": " + e.getMessage(), e);
    }
    TreeSet<String> missing = new TreeSet<>(wanted.keySet());
    missing.removeAll(out.keySet());
    missing.removeAll(optional);
    if (!missing.isEmpty()) {
      List<String> shown = new ArrayList<>(missing).subList(0, Math.min(3, missing.size()));
      throw new IOException(
          String.format(
              "%s %s: %d of the tensors it needs are missing, e.g. %s",
              flag, dir, missing.size(), String.join(", ", shown)));
    }
    return out;
  }

  /**
   * The canonical names ({@code canonical} of each stored one, where it gives one) of the tensors
   * the {@code *.safetensors} files in {@code dir} hold; only their headers are read.
   *
   * @param flag the option that named {@code dir}, for the messages
   */
  static List<String> names(String flag, Path dir, Function<String, Optional<String>> canonical)
      throws IOException {
    List<String> names = new ArrayList<>();
    try {
      for (Path file : files(flag, dir)) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
          for (String stored : f.names()) {
            canonical.apply(stored).ifPresent(names::add);
          }
        }
      }
    } catch (CheckpointException e) {
      throw new IOException(flag + " " + dir + ": " + e.getMessage(), e);
    }
    return names;
  }

  /** The {@code *.safetensors} files in {@code dir}, sorted. */
  private static List<Path> files(String flag, Path dir) throws IOException {
    try (Stream<Path> listing = Files.list(dir)) {
      return listing.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList();
    } catch (IOException e) {
      throw new IOException(flag + " " + dir + ": cannot list the folder: " + e, e);
    }
  }

  /** The canonical name of a stored tower tensor, or empty for anything else. */
  static Optional<String> canonical(String stored) {
    if (stored.startsWith(VISION_MODEL)) {
      return Optional.of(WeightShapes.VISION + stored.substring(VISION_MODEL.length()));
    }
    return WeightNaming.canonical(stored).filter(n -> n.startsWith(WeightShapes.VISION));
  }
}
