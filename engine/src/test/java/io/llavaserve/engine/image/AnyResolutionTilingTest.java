package io.llavaserve.engine.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * LlavaNextImageProcessor against {@code make_next_fixtures.py}'s numpy + Pillow implementation of
 * transformers' steps ({@code next/}): the 8-bit base tile and padded canvas on every pixel, the
 * grid tiles cut from the canvas row-major, and each tile's float32 values (padding normalised from
 * 0) bit for bit by digest.
 */
class AnyResolutionTilingTest {

  private static JsonNode expected() throws IOException {
    return new ObjectMapper().readTree(Fixtures.bytes("next/expected.json"));
  }

  private static PreprocessConfig config(JsonNode c) {
    List<Resolution> pinpoints = new ArrayList<>();
    for (JsonNode p : c.get("pinpoints")) {
      pinpoints.add(new Resolution(p.get(0).asInt(), p.get(1).asInt()));
    }
    return PreprocessConfig.llavaNextDefaults(c.get("tile").asInt(), pinpoints);
  }

  private static RgbImage source(JsonNode c) {
    return Fixtures.expectedRgb(c.get("source").asText());
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "37x23_tile336",
        "500x333_tile336",
        "64x400_tile336",
        "336x336_tile336",
        "1000x700_tile336",
        "120x90_tile56",
        "64x400_tile56",
        "37x23_tile56"
      })
  void baseTileAndGridTilesEqualPillowOnEveryPixel(String name) throws IOException {
    JsonNode c = expected().get(name);
    int tile = c.get("tile").asInt();
    RgbImage src = source(c);
    assertEquals(c.get("image_size").get(0).asInt(), src.height());
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
        Fixtures.maxDifference(Fixtures.expectedRgb("next/" + name + ".base.png"), tiles.get(0)),
        "base");
    RgbImage canvas = Fixtures.expectedRgb("next/" + name + ".canvas.png");
    assertEquals(best.height(), canvas.height());
    assertEquals(best.width(), canvas.width());
    int t = 1;
    for (int y = 0; y < best.height(); y += tile) {
      for (int x = 0; x < best.width(); x += tile) {
        RgbImage want = cut(canvas, x, y, tile);
        assertEquals(0, Fixtures.maxDifference(want, tiles.get(t)), name + " tile " + t);
        t++;
      }
    }
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "37x23_tile336",
        "500x333_tile336",
        "64x400_tile336",
        "336x336_tile336",
        "1000x700_tile336",
        "120x90_tile56",
        "64x400_tile56",
        "37x23_tile56"
      })
  void pixelValuesEqualNumpysBitForBit(String name) throws IOException {
    JsonNode c = expected().get(name);
    int tile = c.get("tile").asInt();
    RgbImage src = source(c);

    PixelValues v = new ImagePreprocessor(config(c)).preprocess(src);

    assertEquals(c.get("tiles").asInt(), v.tiles());
    assertEquals(3, v.channels());
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
      assertEquals((float) c.get("first_values").get(i).asDouble(), v.data()[i]);
    }
    assertEquals(c.get("digest").asText(), v.digest());
  }

  /** 37 x 23 in 336 x 672: resized to 541 wide, 65 columns of zeros on the left before tile 1. */
  @Test
  void paddingIsZeroBeforeNormalisationSoMinusMeanOverStdAfter() throws IOException {
    JsonNode c = expected().get("37x23_tile336");
    PixelValues v = new ImagePreprocessor(config(c)).preprocess(source(c));
    int plane = 336 * 336;
    for (int ch = 0; ch < 3; ch++) {
      float pad = v.data()[v.tileLength() + ch * plane]; // tile 1, pixel (0, 0)
      assertEquals((float) c.get("pad_values").get(ch).asDouble(), pad, "channel " + ch);
      float mean = (float) PreprocessConfig.CLIP_MEAN[ch];
      float std = (float) PreprocessConfig.CLIP_STD[ch];
      assertEquals((0f - mean) / std, pad);
    }
  }

  @Test
  void llavaV16PreprocessorConfigLoadsAsLlavaNextImageProcessor(@TempDir Path dir)
      throws IOException {
    Path p = dir.resolve("preprocessor_config.json");
    Files.write(p, Fixtures.bytes("llava-v1.6-mistral-7b-hf-preprocessor_config.json"));
    PreprocessConfig c = PreprocessConfig.load(p, 336);
    assertEquals(PreprocessConfig.llavaNextDefaults(336, AnyResolution.LLAVA_V1_6_PINPOINTS), c);
    assertTrue(c.tilesImages());
    assertTrue(!c.padToSquare(), "LlavaNextImageProcessor never pads to a square");
  }

  private static RgbImage cut(RgbImage canvas, int x0, int y0, int tile) {
    byte[] out = new byte[tile * tile * 3];
    for (int y = 0; y < tile; y++) {
      for (int x = 0; x < tile; x++) {
        for (int ch = 0; ch < 3; ch++) {
          out[(y * tile + x) * 3 + ch] =
              canvas.rgb()[((y0 + y) * canvas.width() + x0 + x) * 3 + ch];
        }
      }
    }
    return new RgbImage(tile, tile, out);
  }
}
