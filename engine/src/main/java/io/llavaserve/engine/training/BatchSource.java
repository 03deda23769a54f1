package io.llavaserve.engine.training;

import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.training.world.HardNegatives;
import io.llavaserve.engine.training.world.Instructions;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.SceneRenderer;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldDatasets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The data of every step of every stage, generated on demand and deterministic in (seed, stage,
 * step): a resumed run sees exactly the batches an uninterrupted one would have.
 *
 * <p>Images go through the serving engine's own preprocessing (pad to square, Pillow-exact bicubic
 * resize, CLIP normalisation), so the tower trains on exactly what it will be served.
 */
final class BatchSource {

  /**
   * One contrastive batch: pixels of {@code images} images and padded caption rows: first each
   * image's own caption, then {@code hardNegatives} blocks of one false caption per image (block
   * {@code k}, row {@code i} belongs to image {@code i}).
   */
  record ClipBatch(
      float[] pixels, int images, int side, int captions, int[] captionRows, float[] captionMask) {}

  private final long seed;
  private final SizeRange sizes;
  private final SampleEncoder encoder;
  private final WorldVocabulary vocabulary;
  private final ImagePreprocessor preprocessor;
  private final int imagePositions;
  private final int side;
  private final int captionTokens;
  private final int hardNegatives;

  BatchSource(
      long seed,
      SizeRange sizes,
      SampleEncoder encoder,
      WorldVocabulary vocabulary,
      TrainingSpec spec) {
    this.seed = seed;
    this.sizes = sizes;
    this.encoder = encoder;
    this.vocabulary = vocabulary;
    this.side = spec.config().vision().imageSize();
    this.preprocessor = new ImagePreprocessor(PreprocessConfig.clipDefaults(side));
    this.imagePositions = spec.config().imageSeqLength();
    this.captionTokens = spec.clipText().maxTokens();
    this.hardNegatives = spec.clipText().hardNegatives();
  }

  private WorldDatasets data(Stage stage, long step) {
    long mixed = seed * 0x9E3779B97F4A7C15L + stage.ordinal() * 0xBF58476D1CE4E5B9L + step;
    return new WorldDatasets(mixed, sizes);
  }

  float[] pixels(Sample sample) {
    return preprocessor.preprocess(SceneRenderer.render(sample.scene())).data();
  }

  /** A batch of {@code size} sequences for a LLaVA or text stage. */
  TrainingBatch batch(Stage stage, long step, int size) {
    WorldDatasets data = data(stage, step);
    List<EncodedSample> encoded = new ArrayList<>(size);
    List<float[]> images = new ArrayList<>();
    for (int i = 0; i < size; i++) {
      Sample s =
          switch (stage) {
            case ALIGN -> data.caption();
            case TEXT, INSTRUCT -> data.instruction();
            case CLIP -> throw new IllegalArgumentException("use clipBatch for " + stage);
          };
      if (stage == Stage.TEXT) {
        String scene = Instructions.detail(s.scene(), new SplittableRandom(step * 31 + i)).answer();
        encoded.add(encoder.transcript(scene, s.turns()));
      } else {
        encoded.add(encoder.conversation(s.turns(), true));
        images.add(pixels(s));
      }
    }
    return TrainingBatch.of(encoded, images, vocabulary, imagePositions);
  }

  /**
   * A contrastive batch of {@code size} images, their captions and {@link
   * ClipTextSpec#hardNegatives()} false captions per image.
   */
  ClipBatch clipBatch(long step, int size) {
    WorldDatasets data = data(Stage.CLIP, step);
    int captions = size * (1 + hardNegatives);
    float[] pixels = new float[size * 3 * side * side];
    int[] rows = new int[captions * captionTokens];
    float[] mask = new float[captions * captionTokens];
    SplittableRandom negatives = new SplittableRandom(step * 0x9E3779B97F4A7C15L + seed);
    for (int i = 0; i < size; i++) {
      Sample s = data.caption();
      float[] px = pixels(s);
      System.arraycopy(px, 0, pixels, i * px.length, px.length);
      putCaption(rows, mask, i, s.turns().get(0).answer());
      List<String> falseOnes = HardNegatives.captions(s.scene(), hardNegatives, negatives);
      for (int k = 0; k < hardNegatives; k++) {
        putCaption(rows, mask, (k + 1) * size + i, falseOnes.get(k));
      }
    }
    return new ClipBatch(pixels, size, side, captions, rows, mask);
  }

  private void putCaption(int[] rows, float[] mask, int row, String caption) {
    int[] ids = encoder.caption(caption);
    int n = Math.min(ids.length, captionTokens);
    for (int j = 0; j < captionTokens; j++) {
      rows[row * captionTokens + j] = j < n ? vocabulary.row(ids[j]) : vocabulary.otherRow();
      mask[row * captionTokens + j] = j < n ? 1f : 0f;
    }
  }

  /**
   * The world vocabulary: every id in {@code samples} samples of each kind of text the stages train
   * on, through the template (with and without images), plus BOS and EOS.
   */
  static WorldVocabulary vocabulary(
      SampleEncoder encoder, long seed, SizeRange sizes, int samples, int vocabSize) {
    java.util.Set<Integer> ids = new java.util.TreeSet<>();
    WorldDatasets data = new WorldDatasets(seed ^ 0x5DEECE66DL, sizes);
    for (int i = 0; i < samples; i++) {
      for (Sample s : List.of(data.caption(), data.instruction())) {
        for (int id : encoder.conversation(s.turns(), false).ids()) {
          ids.add(id);
        }
        for (int id : encoder.caption(s.turns().get(0).answer())) {
          ids.add(id);
        }
      }
    }
    ids.add(encoder.tokenizer().bosId());
    ids.add(encoder.tokenizer().eosId());
    return new WorldVocabulary(ids, vocabSize);
  }
}
