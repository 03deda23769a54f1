package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.WeightNaming;
import io.llavaserve.engine.checkpoint.WeightShapes;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A whole LLaVA for a new run to start from, as LLaVA's fine-tuning starts from a released
 * checkpoint: the tower, the projector and the language model read from a llava-hf folder (or any
 * layout the server loads), the embedding cut down to the run's world rows.
 *
 * <p>A run may ask for a deeper decoder than the checkpoint's ({@code train --decoder}): the
 * checkpoint's layers keep their order, and the new ones are inserted among them as in LLaMA Pro's
 * block expansion, each a copy of the layer before it whose attention output and MLP down
 * projections are zero. Such a layer adds nothing to the residual stream, so the deeper model
 * computes exactly the checkpoint's logits until training moves those projections off zero.
 */
final class PretrainedModel {

  private PretrainedModel() {}

  /**
   * Every tensor of the model in {@code shapes} from {@code dir}, as float32: the tensors a
   * checkpoint holds under their canonical names, and {@link Towers#WORLD_EMBED} as the rows of the
   * checkpoint's embedding that {@code vocabulary} trains (ids the checkpoint's run did not train
   * start from the row it shares among them). The training-only heads of stage 0a are left out, for
   * the caller to initialise, and so is {@code image_newline} when the folder has none: a
   * LLaVA-NeXT run may start from a LLaVA-1.5 checkpoint, its newline row then learning from its
   * initial value as the projector's new part.
   *
   * @throws IOException naming the folder and the tensor when one is missing or of another shape
   */
  static Map<String, float[]> load(
      Path dir, Map<String, long[]> shapes, WorldVocabulary vocabulary, int hidden)
      throws IOException {
    int layers = layers(shapes.keySet());
    // A folder without decoder layers is left to the read below to refuse, naming what is missing.
    int found = layers(PretrainedTower.names("--init-from", dir, WeightNaming::canonical));
    int stored = found == 0 ? layers : found;
    if (stored > layers) {
      throw new IOException(
          String.format(
              "--init-from %s: its decoder has %d layers, the run's %d; a run may add layers to a"
                  + " checkpoint's decoder (--decoder), not drop them",
              dir, stored, layers));
    }
    Map<String, long[]> wanted = new LinkedHashMap<>();
    shapes.forEach(
        (name, shape) -> {
          Optional<Integer> layer = layerOf(name);
          if (isCheckpointTensor(name) && (layer.isEmpty() || layer.get() < stored)) {
            wanted.put(name, shape);
          }
        });
    wanted.put(WeightShapes.EMBED_TOKENS, new long[] {vocabulary.vocabSize(), hidden});
    Map<String, float[]> read =
        PretrainedTower.read(
            "--init-from",
            dir,
            wanted,
            java.util.Set.of(WeightShapes.IMAGE_NEWLINE),
            WeightNaming::canonical);
    float[] full = read.remove(WeightShapes.EMBED_TOKENS);
    read.put(Towers.WORLD_EMBED, vocabulary.restrict(full, hidden));
    return stored == layers ? read : expand(read, stored, layers);
  }

  /**
   * For each of {@code layers} decoder layers made from {@code stored} ones, the stored layer it
   * starts from, negated minus one ({@code -1 - j}) where it is a new copy of stored layer {@code
   * j}. The copies are spread evenly: stored layer {@code j} is followed by {@code floor((j + 1) *
   * added / stored) - floor(j * added / stored)} of them, so four layers made six are 0, 1, copy of
   * 1, 2, 3, copy of 3.
   */
  static int[] expansion(int stored, int layers) {
    if (stored < 1 || layers < stored) {
      throw new IllegalArgumentException(
          "cannot make " + layers + " decoder layers from " + stored);
    }
    int added = layers - stored;
    int[] from = new int[layers];
    int i = 0;
    for (int j = 0; j < stored; j++) {
      from[i++] = j;
      int copies = (int) ((long) (j + 1) * added / stored - (long) j * added / stored);
      for (int c = 0; c < copies; c++) {
        from[i++] = -1 - j;
      }
    }
    return from;
  }

  /** {@code read}'s decoder layers laid out as {@link #expansion}, the new ones silent. */
  private static Map<String, float[]> expand(Map<String, float[]> read, int stored, int layers) {
    int[] from = expansion(stored, layers);
    Map<String, float[]> out = new LinkedHashMap<>();
    read.forEach(
        (name, value) -> {
          if (layerOf(name).isEmpty()) {
            out.put(name, value);
          }
        });
    for (int i = 0; i < layers; i++) {
      boolean copy = from[i] < 0;
      String source = WeightShapes.TEXT + "layers." + (copy ? -1 - from[i] : from[i]) + ".";
      String target = WeightShapes.TEXT + "layers." + i + ".";
      for (Map.Entry<String, float[]> e : read.entrySet()) {
        if (!e.getKey().startsWith(source)) {
          continue;
        }
        String part = e.getKey().substring(source.length());
        float[] value = e.getValue().clone();
        if (copy && SILENCED.contains(part)) {
          Arrays.fill(value, 0f);
        }
        out.put(target + part, value);
      }
    }
    return out;
  }

  /** The projections into the residual stream that a new layer starts with at zero. */
  private static final List<String> SILENCED =
      List.of("self_attn.o_proj.weight", "self_attn.o_proj.bias", "mlp.down_proj.weight");

  private static final Pattern LAYER =
      Pattern.compile(Pattern.quote(WeightShapes.TEXT + "layers.") + "(\\d+)\\..*");

  private static Optional<Integer> layerOf(String name) {
    Matcher m = LAYER.matcher(name);
    return m.matches() ? Optional.of(Integer.parseInt(m.group(1))) : Optional.empty();
  }

  /** One more than the highest decoder layer among {@code names}, 0 for none. */
  private static int layers(Collection<String> names) {
    return names.stream()
        .map(PretrainedModel::layerOf)
        .flatMap(Optional::stream)
        .mapToInt(l -> l + 1)
        .max()
        .orElse(0);
  }

  private static boolean isCheckpointTensor(String name) {
    return name.startsWith(WeightShapes.VISION)
        || name.startsWith(WeightShapes.PROJECTOR)
        || name.startsWith(WeightShapes.TEXT)
        || name.equals(WeightShapes.LM_HEAD)
        || name.equals(WeightShapes.IMAGE_NEWLINE);
  }
}
