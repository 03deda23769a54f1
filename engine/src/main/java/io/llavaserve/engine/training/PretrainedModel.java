package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.WeightNaming;
import io.llavaserve.engine.checkpoint.WeightShapes;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A whole LLaVA for a new run to start from, as LLaVA's fine-tuning starts from a released
 * checkpoint: the tower, the projector and the language model read from a llava-hf folder (or any
 * layout the server loads), the embedding cut down to the run's world rows.
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
    Map<String, long[]> wanted = new LinkedHashMap<>();
    shapes.forEach(
        (name, shape) -> {
          if (isCheckpointTensor(name)) {
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
    return read;
  }

  private static boolean isCheckpointTensor(String name) {
    return name.startsWith(WeightShapes.VISION)
        || name.startsWith(WeightShapes.PROJECTOR)
        || name.startsWith(WeightShapes.TEXT)
        || name.equals(WeightShapes.LM_HEAD)
        || name.equals(WeightShapes.IMAGE_NEWLINE);
  }
}
