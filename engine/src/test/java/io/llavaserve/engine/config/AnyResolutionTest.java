package io.llavaserve.engine.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.AnyResolution.Resolution;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Positions per image size against processing_llava_next's formula, as {@code
 * make_next_fixtures.py} computes it in Python ({@code next/counts.json}): llava-v1.6's 336 px
 * tiles and the tiny preset's 56 px ones, on hand-picked sizes and 300 random ones.
 */
class AnyResolutionTest {

  private static JsonNode counts() throws IOException {
    try (InputStream in =
        AnyResolutionTest.class.getResourceAsStream(
            "/io/llavaserve/engine/image/next/counts.json")) {
      return new ObjectMapper().readTree(in);
    }
  }

  private static AnyResolution of(JsonNode table) {
    List<Resolution> pinpoints = new ArrayList<>();
    for (JsonNode p : table.get("pinpoints")) {
      pinpoints.add(new Resolution(p.get(0).asInt(), p.get(1).asInt()));
    }
    int tile = table.get("tile").asInt();
    return new AnyResolution(pinpoints, tile, tile / table.get("patch").asInt());
  }

  @ParameterizedTest
  @ValueSource(strings = {"llava-v1.6", "tiny-next"})
  void positionsAndTilesPerSizeEqualTheProcessorsFormula(String key) throws IOException {
    JsonNode table = counts().get(key);
    AnyResolution anyres = of(table);
    int checked = 0;
    for (JsonNode row : table.get("sizes")) {
      int h = row.get(0).asInt();
      int w = row.get(1).asInt();
      assertEquals(
          row.get(2).asInt(), anyres.positions(h, w), key + " positions of " + h + "x" + w);
      assertEquals(row.get(3).asInt(), anyres.tiles(h, w), key + " tiles of " + h + "x" + w);
      checked++;
    }
    assertTrue(checked > 300, "the table covers " + checked + " sizes");
  }

  @Test
  void aSixFortyByFourEightyImageFillsTwoThousandThreeHundredFortyPositionsOnLlavaV16() {
    AnyResolution v16 = new AnyResolution(AnyResolution.LLAVA_V1_6_PINPOINTS, 336, 24);
    // 672 x 672: 2 x 2 tiles, a 48 x 48 map un-padded to 36 rows: 576 + 36 * 48 + 36.
    assertEquals(new Resolution(672, 672), v16.bestResolution(480, 640));
    assertEquals(new AnyResolution.FeatureLayout(2, 2, 6, 0, 36, 48), v16.layout(480, 640));
    assertEquals(2340, v16.positions(480, 640));
    assertEquals(5, v16.tiles(480, 640));
    assertEquals(5, v16.maxTiles());
  }

  @Test
  void resizingInsideAPinpointRoundsTheFreeSideUpAndNeverPastIt() {
    // 700 x 1000 into 672 x 672: 1000 -> 672 (scale 0.672), 700 * 0.672 = 470.4 -> 471.
    assertEquals(
        new Resolution(471, 672), AnyResolution.resizedInside(700, 1000, new Resolution(672, 672)));
    // The limiting side fills the target exactly; the other stays inside.
    assertEquals(
        new Resolution(336, 336), AnyResolution.resizedInside(1, 1, new Resolution(336, 672)));
    assertEquals(
        new Resolution(672, 108), AnyResolution.resizedInside(400, 64, new Resolution(672, 336)));
  }

  @Test
  void pythonsRoundToSevenDecimalsThenTruncate() {
    assertEquals(36, AnyResolution.roundTo7AndTruncate(35.99999999));
    assertEquals(35, AnyResolution.roundTo7AndTruncate(35.9999));
    assertEquals(36, AnyResolution.roundTo7AndTruncate(36.00000004));
  }

  @Test
  void pinpointsMustBeWholeTiles() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new AnyResolution(List.of(new Resolution(336, 600)), 336, 24));
    assertTrue(e.getMessage().contains("image_grid_pinpoints"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new AnyResolution(List.of(), 336, 24));
  }
}
