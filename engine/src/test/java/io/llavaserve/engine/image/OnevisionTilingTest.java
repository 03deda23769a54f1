package io.llavaserve.engine.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.config.AnyResolution.Resolution;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LlavaOnevisionImageProcessor against {@code make_onevision_fixtures.py}'s numpy + Pillow
 * implementation of transformers' steps ({@code onevision/}): for a prompt's lone image the 8-bit
 * base tile and padded canvas on every pixel and the grid tiles cut from it row-major; for an image
 * among several its one tile, padded to a square of 127 and resized; and each tile's float32 values
 * (mean and std 0.5) bit for bit by digest.
 */
class OnevisionTilingTest {

  private static JsonNode expected() throws IOException {
    return new ObjectMapper().readTree(Fixtures.bytes("onevision/expected.json"));
  }

  private static PreprocessConfig config(JsonNode c) {
    List<Resolution> pinpoints = new ArrayList<>();
    for (JsonNode p : c.get("pinpoints")) {
      pinpoints.add(new Resolution(p.get(0).asInt(), p.get(1).asInt()));
    }
    return PreprocessConfig.onevisionDefaults(c.get("tile").asInt(), pinpoints);
  }

  private static RgbImage source(JsonNode c) {
    return Fixtures.expectedRgb(c.get("source").asText());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "1000x700_tile384_alone",
        "500x333_tile384_alone",
        "64x400_tile384_alone",
        "37x23_tile384_alone",
        "336x336_tile384_alone",
        "120x90_tile60_alone",
        "64x400_tile60_alone",
        "37x23_tile60_alone"
      })
  void aLoneImagesBaseTileAndGridTilesEqualPillowOnEveryPixel(String name) throws IOException {
    JsonNode c = expected().get(name);
    assertTrue(c.get("alone").asBoolean());
    int tile = c.get("tile").asInt();
    RgbImage src = source(c);
    Resolution best =
        new Resolution(
            c.get("best_resolution").get(0).asInt(), c.get("best_resolution").get(1).asInt());
    assertEquals(
        best,
        AnyResolution.bestResolution(config(c).imageGridPinpoints(), src.height(), src.width()));
    assertEquals(
        new Resolution(c.get("resized").get(0).asInt(), c.get("resized").get(1).asInt()),
        AnyResolution.resizedInside(src.height(), src.width(), best));

    List<RgbImage> tiles = AnyResolutionTiling.tiles(src, config(c));

    assertEquals(c.get("tiles").asInt(), tiles.size());
    assertEquals(
        0,
        Fixtures.maxDifference(
            Fixtures.expectedRgb("onevision/" + name + ".base.png"), tiles.get(0)),
        "base");
    RgbImage canvas = Fixtures.expectedRgb("onevision/" + name + ".canvas.png");
    assertEquals(best.height(), canvas.height());
    assertEquals(best.width(), canvas.width());
    int t = 1;
    for (int y = 0; y < best.height(); y += tile) {
      for (int x = 0; x < best.width(); x += tile) {
        RgbImage want = AnyResolutionTiling.crop(canvas, x, y, tile, tile);
        assertEquals(0, Fixtures.maxDifference(want, tiles.get(t)), name + " tile " + t);
        t++;
      }
    }
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "500x333_tile384_several",
        "64x400_tile384_several",
        "336x336_tile384_several",
        "120x90_tile60_several"
      })
  void anImageAmongSeveralIsPaddedToASquareOfTheMeanColourAndResizedToOneTile(String name)
      throws IOException {
    JsonNode c = expected().get(name);
    assertFalse(c.get("alone").asBoolean());
    RgbImage src = source(c);
    PreprocessConfig config = config(c);
    assertEquals(127, config.padColour()[0], "int(0.5 * 255)");

    RgbImage one =
        new ImagePreprocessor(config)
            .resizeAndCrop(ImagePreprocessor.expandToSquare(src, config.padColour()));

    assertEquals(
        0, Fixtures.maxDifference(Fixtures.expectedRgb("onevision/" + name + ".base.png"), one));
  }

  @Test
  void pixelValuesEqualNumpysBitForBitAloneAndAmongSeveral() throws IOException {
    JsonNode all = expected();
    int checked = 0;
    for (var it = all.fieldNames(); it.hasNext(); ) {
      String name = it.next();
      JsonNode c = all.get(name);
      int tile = c.get("tile").asInt();
      RgbImage src = source(c);
      int imagesInPrompt = c.get("alone").asBoolean() ? 1 : 3;

      PixelValues v = new ImagePreprocessor(config(c)).preprocess(src, imagesInPrompt);

      assertEquals(c.get("tiles").asInt(), v.tiles(), name);
      assertEquals(tile, v.height());
      assertEquals(tile, v.width());
      assertEquals(src.height(), v.imageHeight());
      assertEquals(src.width(), v.imageWidth());
      for (int i = 0; i < v.tiles(); i++) {
        float[] one = Arrays.copyOfRange(v.data(), i * v.tileLength(), (i + 1) * v.tileLength());
        assertEquals(
            c.get("tile_digests").get(i).asText(),
            PixelValues.of(3, tile, tile, one).digest(),
            name + " tile " + i);
      }
      for (int i = 0; i < 4; i++) {
        assertEquals((float) c.get("first_values").get(i).asDouble(), v.data()[i], name);
      }
      assertEquals(c.get("digest").asText(), v.digest(), name);
      checked++;
    }
    assertEquals(12, checked);
  }

  @Test
  void theSameImageAloneAndAmongSeveralGivesDifferentTilesAndDigests() throws IOException {
    JsonNode c = expected().get("500x333_tile384_alone");
    ImagePreprocessor p = new ImagePreprocessor(config(c));
    PixelValues alone = p.preprocess(source(c));
    PixelValues amongTwo = p.preprocess(source(c), 2);
    assertEquals(3, alone.tiles());
    assertEquals(1, amongTwo.tiles());
    assertTrue(!alone.digest().equals(amongTwo.digest()));
    assertEquals(alone, p.preprocess(source(c), 1));
    assertThrows(IllegalArgumentException.class, () -> p.preprocess(source(c), 0));
  }

  @Test
  void llavaNextTilesEveryImageOfAPromptWithSeveral() {
    PreprocessConfig next =
        PreprocessConfig.llavaNextDefaults(56, AnyResolution.llavaV16Pinpoints(56));
    RgbImage img = new RgbImage(40, 30, new byte[40 * 30 * 3]);
    assertEquals(3, new ImagePreprocessor(next).preprocess(img, 2).tiles());
  }

  @Test
  void llavaOnevisionPreprocessorConfigLoadsAsLlavaOnevisionImageProcessor(@TempDir Path dir)
      throws IOException {
    Path p = dir.resolve("preprocessor_config.json");
    Files.write(p, Fixtures.bytes("llava-onevision-qwen2-0.5b-ov-hf-preprocessor_config.json"));
    PreprocessConfig c = PreprocessConfig.load(p, 384);
    assertEquals(PreprocessConfig.onevisionDefaults(384, AnyResolution.ONEVISION_PINPOINTS), c);
    assertTrue(c.tilesImages() && c.tilesLoneImagesOnly());
    assertFalse(c.padToSquare() || c.doCenterCrop());
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> PreprocessConfig.load(p, 336));
    assertTrue(e.getMessage().contains("size"), e.getMessage());
  }

  @Test
  void keysLeftOutTakeLlavaOnevisionImageProcessorsOwnDefaults(@TempDir Path dir)
      throws IOException {
    Path p = dir.resolve("preprocessor_config.json");
    Files.writeString(p, "{\"image_processor_type\": \"LlavaOnevisionImageProcessor\"}");
    PreprocessConfig c = PreprocessConfig.load(p, 384);
    assertEquals(PreprocessConfig.Size.exact(384, 384), c.size());
    assertEquals(AnyResolution.ONEVISION_PINPOINTS, c.imageGridPinpoints());
    assertTrue(Arrays.equals(PreprocessConfig.CLIP_MEAN, c.imageMean()), "the class's default");
    assertTrue(c.tilesLoneImagesOnly());
  }
}
