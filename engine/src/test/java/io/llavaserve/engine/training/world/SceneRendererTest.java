package io.llavaserve.engine.training.world;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.image.RgbImage;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class SceneRendererTest {

  private final List<Scene> scenes = RenderedAnswersTest.scenes(12, 21);

  @Test
  void pngDecodesToExactlyTheRenderedPixels() throws IOException {
    for (Scene scene : scenes) {
      BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(SceneRenderer.png(scene)));
      RgbImage rendered = SceneRenderer.render(scene);
      assertEquals(scene.width(), decoded.getWidth());
      assertEquals(scene.height(), decoded.getHeight());
      for (int y = 0; y < scene.height(); y++) {
        for (int x = 0; x < scene.width(); x++) {
          int rgb = decoded.getRGB(x, y) & 0xFFFFFF;
          int expected =
              rendered.sample(x, y, 0) << 16
                  | rendered.sample(x, y, 1) << 8
                  | rendered.sample(x, y, 2);
          if (rgb != expected) {
            throw new AssertionError("pixel " + x + "," + y + " of " + scene);
          }
        }
      }
    }
  }

  @Test
  void jpegDecodesToTheSameSizeAndNearlyTheSameColors() throws IOException {
    for (Scene scene : scenes) {
      BufferedImage decoded =
          ImageIO.read(new ByteArrayInputStream(SceneRenderer.jpeg(scene, 0.9f)));
      RgbImage rendered = SceneRenderer.render(scene);
      assertEquals(scene.width(), decoded.getWidth());
      assertEquals(scene.height(), decoded.getHeight());
      long total = 0;
      for (int y = 0; y < scene.height(); y++) {
        for (int x = 0; x < scene.width(); x++) {
          int rgb = decoded.getRGB(x, y);
          for (int c = 0; c < 3; c++) {
            total += Math.abs((rgb >> (16 - 8 * c) & 0xFF) - rendered.sample(x, y, c));
          }
        }
      }
      double mean = (double) total / (3L * scene.width() * scene.height());
      assertTrue(mean < 4, () -> "mean JPEG error " + mean + " for " + scene);
    }
    assertThrows(IllegalArgumentException.class, () -> SceneRenderer.jpeg(scenes.get(0), 1.5f));
  }

  @Test
  void renderingTheSameSceneTwiceGivesTheSameBytes() throws IOException {
    for (Scene scene : scenes) {
      assertEquals(SceneRenderer.render(scene), SceneRenderer.render(scene));
      assertArrayEquals(SceneRenderer.png(scene), SceneRenderer.png(scene));
      assertArrayEquals(SceneRenderer.jpeg(scene, 0.8f), SceneRenderer.jpeg(scene, 0.8f));
    }
  }

  @Test
  void theBorderIsThePlainBackground() {
    for (Scene scene : scenes) {
      RgbImage image = SceneRenderer.render(scene);
      int bg = scene.background();
      for (int x = 0; x < scene.width(); x++) {
        for (int y : new int[] {0, scene.height() - 1}) {
          assertEquals(bg >> 16 & 0xFF, image.sample(x, y, 0));
          assertEquals(bg >> 8 & 0xFF, image.sample(x, y, 1));
          assertEquals(bg & 0xFF, image.sample(x, y, 2));
        }
      }
    }
  }

  @Test
  void aReducedDrawingKeepsTheAspectRatioAndFitsTheLongerSide() {
    for (Scene scene : scenes) {
      int longer = Math.max(scene.width(), scene.height());
      RgbImage small = SceneRenderer.render(scene, 200);
      if (longer <= 200) {
        assertEquals(SceneRenderer.render(scene), small);
        continue;
      }
      assertEquals(200, Math.max(small.width(), small.height()), scene::toString);
      double aspect = (double) scene.width() / scene.height();
      double got = (double) small.width() / small.height();
      assertTrue(
          Math.abs(Math.log(got / aspect)) < 0.05 + 1.0 / Math.min(small.width(), small.height()));
    }
    assertThrows(IllegalArgumentException.class, () -> SceneRenderer.render(scenes.get(0), 0));
  }

  @Test
  void aDrawingAtTwiceTheTowerSideLooksAsTheFullOneDoesAfterPreprocessing() {
    ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.clipDefaults(128));
    double worst = 0;
    for (Scene scene : RenderedAnswersTest.scenes(6, 1024)) {
      float[] full = pre.preprocess(SceneRenderer.render(scene)).data();
      float[] reduced = pre.preprocess(SceneRenderer.render(scene, 256)).data();
      assertEquals(full.length, reduced.length);
      double sum = 0;
      for (int i = 0; i < full.length; i++) {
        sum += Math.abs(full[i] - reduced[i]);
      }
      worst = Math.max(worst, sum / full.length);
    }
    // In normalised units one 8-bit level is 1 / (255 * std), about 0.0145: under one level on
    // average, only the anti-aliased edges differ.
    double level = 1 / (255 * 0.27);
    assertTrue(worst < level, "worst mean difference " + worst);
  }
}
