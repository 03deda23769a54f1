package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.VisionFamily;
import io.llavaserve.engine.generate.GenerationResult;
import io.llavaserve.engine.generate.Generator;
import io.llavaserve.engine.image.ImageDecoder;
import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.sampling.SampledToken;
import io.llavaserve.engine.sampling.SamplingParams;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A SigLIP + Qwen2 checkpoint (llava-interleave's architecture, tiny) end to end through {@link
 * LlavaModel}: an encoded photo decoded and preprocessed as the checkpoint's SiglipImageProcessor
 * says, the prompt expanded by the config's image_seq_length, and greedy generation checked against
 * the plain-Java reference.
 */
class SiglipGenerationTest {

  @TempDir static Path dir;

  private static LlavaModel model;

  @BeforeAll
  static void load() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.siglipQwen2());
    // Pad-to-square is on by default; a SigLIP processor must not pad all the same.
    model = LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(1 << 20));
  }

  @AfterAll
  static void close() {
    if (model != null) {
      model.close();
    }
  }

  @Test
  void aNonSquarePhotoIsSquashedToTheTowerWithoutPaddingOrCrop() throws Exception {
    byte[] png = pngBytes();

    PixelValues px = model.preprocess(png);

    assertEquals(VisionFamily.SIGLIP, model.config().vision().family());
    PixelValues squashed =
        new ImagePreprocessor(PreprocessConfig.siglipDefaults(60))
            .preprocess(ImageDecoder.decode(png, model.options().imageLimits()));
    assertEquals(squashed.digest(), px.digest());
    assertEquals(60, px.height());
    assertEquals(60, px.width());
    // The top-left corner is the photo's own black-red, (0 - 0.5) / 0.5 = -1 in red, not a pad.
    assertTrue(px.data()[0] < -0.9f, "red at the corner " + px.data()[0]);
  }

  @Test
  void greedyTokensWithAPhotoAreTheReferenceArgmaxes() throws Exception {
    PixelValues px = model.preprocess(pngBytes());
    int[] ids = model.rawPrompt("USER: <image>\nWhat is this?\nASSISTANT:").ids();
    SamplingParams params =
        SamplingParams.builder().temperature(0).maxTokens(5).ignoreEos(true).logprobs(0).build();

    GenerationResult r = new Generator(model).generate(ids, List.of(px), params, s -> {});

    int rows = model.config().imageSeqLength();
    assertEquals(16, rows, "every patch of the 4 x 4 grid, none dropped");
    assertEquals(ids.length + rows - 1, r.promptTokens());
    assertEquals(5, r.tokens().size());
    int[] all = new int[ids.length + r.tokens().size()];
    System.arraycopy(ids, 0, all, 0, ids.length);
    for (int i = 0; i < r.tokens().size(); i++) {
      all[ids.length + i] = r.tokens().get(i).tokenId();
    }
    float[][] logits = new ReferenceLlava(model.checkpoint()).logits(all, List.of(px.data()));
    for (int i = 0; i < r.tokens().size(); i++) {
      float[] row = logits[r.promptTokens() - 1 + i];
      SampledToken t = r.tokens().get(i);
      float best = Float.NEGATIVE_INFINITY;
      for (float v : row) {
        best = Math.max(best, v);
      }
      // The chosen token is the reference's most likely, up to the graph's float32 error.
      assertEquals(best, row[t.tokenId()], 1e-4, "token " + i + " (" + t.tokenId() + ")");
    }

    PixelValues grey = PixelValues.of(3, 60, 60, new float[3 * 60 * 60]);
    GenerationResult other = new Generator(model).generate(ids, List.of(grey), params, s -> {});
    assertNotEquals(
        r.tokens().get(0).logprob(),
        other.tokens().get(0).logprob(),
        "the image reaches the model");
  }

  /** 40 x 30: red grows to the right, green downwards, blue constant. */
  private static byte[] pngBytes() throws Exception {
    BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 30; y++) {
      for (int x = 0; x < 40; x++) {
        img.setRGB(x, y, new Color(x * 6, y * 8, 120).getRGB());
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }
}
