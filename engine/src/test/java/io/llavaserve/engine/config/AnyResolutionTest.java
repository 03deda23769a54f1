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
 * tiles and the tiny preset's 56 px ones, on hand-picked sizes and 300 random ones; and against
 * processing_llava_onevision's ({@code make_onevision_fixtures.py}, {@code onevision/counts.json},
 * and a second implementation written here from transformers' formulas).
 */
class AnyResolutionTest {

  private static JsonNode counts() throws IOException {
    return json("/io/llavaserve/engine/image/next/counts.json");
  }

  private static JsonNode json(String resource) throws IOException {
    try (InputStream in = AnyResolutionTest.class.getResourceAsStream(resource)) {
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

  @ParameterizedTest
  @ValueSource(strings = {"onevision-0.5b", "tiny-onevision"})
  void oneVisionPositionsTilesAndPackedMapsEqualTheProcessorsFormula(String key)
      throws IOException {
    JsonNode table = json("/io/llavaserve/engine/image/onevision/counts.json").get(key);
    List<Resolution> pinpoints = new ArrayList<>();
    for (JsonNode p : table.get("pinpoints")) {
      pinpoints.add(new Resolution(p.get(0).asInt(), p.get(1).asInt()));
    }
    int tile = table.get("tile").asInt();
    AnyResolution anyres =
        AnyResolution.onevision(
            pinpoints, tile, tile / table.get("patch").asInt(), table.get("anyres_max").asInt());
    int checked = 0;
    int reduced = 0;
    for (JsonNode row : table.get("sizes")) {
      int h = row.get(0).asInt();
      int w = row.get(1).asInt();
      String what = key + " " + h + "x" + w;
      assertEquals(row.get(2).asInt(), anyres.positions(h, w), what + " positions");
      assertEquals(row.get(3).asInt(), anyres.tiles(h, w), what + " tiles");
      AnyResolution.FeatureLayout l = anyres.layout(h, w);
      assertEquals(row.get(4).get(0).asInt(), l.rows(), what + " kept rows");
      assertEquals(row.get(4).get(1).asInt(), l.cols(), what + " kept columns");
      assertEquals(row.get(5).get(0).asInt(), l.packedRows(), what + " packed rows");
      assertEquals(row.get(5).get(1).asInt(), l.packedCols(), what + " packed columns");
      assertEquals(table.get("among_several").asInt(), anyres.positions(1, h, w), what);
      assertTrue(anyres.positions(h, w) <= anyres.maxPositions(), what + " within the bound");
      checked++;
      reduced += l.reduced() ? 1 : 0;
    }
    assertTrue(checked > 300, "the table covers " + checked + " sizes");
    assertTrue(reduced > 100, reduced + " of the sizes are reduced");
  }

  /**
   * llava-onevision-qwen2-0.5b-ov-hf (SigLIP at 384 px in 14 px patches, 729 features a tile, the
   * 36 pinpoints, anyres_max_9): each size, both ways round, against {@link #onevisionCount}, a
   * second implementation of transformers' formulas.
   */
  @Test
  void oneVisionPositionsOfATableOfSizesEqualTransformersFormulas() {
    AnyResolution ov =
        AnyResolution.onevision(
            AnyResolution.ONEVISION_PINPOINTS, 384, 27, AnyResolution.ONEVISION_ANYRES_MAX);
    int[][] sizes = {
      {1, 1}, {17, 400}, {384, 384}, {640, 480}, {1024, 768}, {2000, 300}, {4000, 4000}
    };
    for (int[] s : sizes) {
      for (int[] hw : new int[][] {{s[0], s[1]}, {s[1], s[0]}}) {
        int h = hw[0];
        int w = hw[1];
        assertEquals(
            onevisionCount(h, w, ov.pinpoints(), 384, 27, 9),
            ov.positions(h, w),
            "positions of " + h + " x " + w);
        assertEquals(730, ov.positions(1, h, w), h + " x " + w + " among several images");
      }
    }
    // The numbers the README gives.
    assertEquals(1485, ov.positions(1, 1));
    assertEquals(2929, ov.positions(480, 640));
    assertEquals(4744, ov.positions(1024, 768));
    assertEquals(7371, ov.positions(4000, 4000));
    assertEquals(
        new AnyResolution.FeatureLayout(6, 6, 0, 0, 162, 162, 81, 81), ov.layout(4000, 4000));
    assertEquals(37, ov.tiles(4000, 4000));
    assertEquals(37, ov.maxTiles());
    // A 6 x 3 grid's map un-padded to 162 x 49 stays just under the threshold (ratio 1.0999).
    assertEquals(8829, ov.maxPositions());
    assertEquals(
        2928, new AnyResolution(AnyResolution.LLAVA_V1_6_PINPOINTS, 336, 24).maxPositions());
  }

  /**
   * processing_llava_onevision's {@code _get_number_of_features} written out again, from
   * transformers, sharing nothing with {@link AnyResolution}: select_best_resolution, the un-padded
   * map, and the anyres_max reduction with Python's float floor division.
   */
  private static int onevisionCount(
      int origHeight, int origWidth, List<Resolution> pinpoints, int tile, int patches, int max) {
    int bestH = 0;
    int bestW = 0;
    long maxEffective = 0;
    double minWasted = Double.POSITIVE_INFINITY;
    for (Resolution r : pinpoints) {
      double scale = Math.min((double) r.width() / origWidth, (double) r.height() / origHeight);
      long down = (long) (origWidth * scale) * (long) (origHeight * scale);
      long effective = Math.min(down, (long) origWidth * origHeight);
      double wasted = (double) r.width() * r.height() - effective;
      if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
        maxEffective = effective;
        minWasted = wasted;
        bestH = r.height();
        bestW = r.width();
      }
    }
    int currentHeight = patches * (bestH / tile);
    int currentWidth = patches * (bestW / tile);
    if ((double) origWidth / origHeight > (double) currentWidth / currentHeight) {
      int newHeight =
          new java.math.BigDecimal(origHeight * ((double) currentWidth / origWidth))
              .setScale(7, java.math.RoundingMode.HALF_EVEN)
              .intValue();
      currentHeight -= Math.floorDiv(currentHeight - newHeight, 2) * 2;
    } else {
      int newWidth =
          new java.math.BigDecimal(origWidth * ((double) currentHeight / origHeight))
              .setScale(7, java.math.RoundingMode.HALF_EVEN)
              .intValue();
      currentWidth -= Math.floorDiv(currentWidth - newWidth, 2) * 2;
    }
    int unpadded = currentHeight * currentWidth;
    int newlines = currentHeight;
    double ratio = Math.sqrt(currentHeight * currentWidth / (double) (max * patches * patches));
    if (ratio > 1.1) {
      int rows = (int) floorDiv(currentHeight, ratio);
      unpadded = rows * (int) floorDiv(currentWidth, ratio);
      newlines = rows;
    }
    return unpadded + newlines + patches * patches;
  }

  /** CPython's float {@code a // b} for positive operands: (a - fmod(a, b)) / b, then rounded. */
  private static double floorDiv(double a, double b) {
    double div = (a - a % b) / b;
    double f = Math.floor(div);
    return div - f > 0.5 ? f + 1 : f;
  }

  @Test
  void pythonsFloatFloorDivisionIsNotAlwaysTheFloorOfTheQuotient() {
    assertEquals(9.0, AnyResolution.pythonFloorDiv(1, 0.1));
    assertEquals(10.0, Math.floor(1 / 0.1));
    assertEquals(81.0, AnyResolution.pythonFloorDiv(162, 2.0));
    assertEquals(3.0, AnyResolution.pythonFloorDiv(7, 2.0));
    assertEquals(0.0, AnyResolution.pythonFloorDiv(1, 3.0));
  }

  @Test
  void aReductionThatWouldLeaveNoRowIsRefusedWithTheConfig() {
    // 4 patches a side and anyres_max_1: a 1 x 24 strip of a 6-tile grid would shrink to 0 rows.
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> AnyResolution.onevision(AnyResolution.onevisionPinpoints(60), 60, 4, 1));
    assertTrue(e.getMessage().contains("vision_aspect_ratio"), e.getMessage());
    assertEquals(
        2, AnyResolution.onevision(AnyResolution.onevisionPinpoints(60), 60, 4, 2).anyresMax());
    assertThrows(
        IllegalArgumentException.class,
        () -> AnyResolution.onevision(AnyResolution.ONEVISION_PINPOINTS, 384, 27, 0));
  }

  @Test
  void llavaNextTilesEveryImageAndOneVisionOnlyAPromptsLoneImage() {
    AnyResolution next = new AnyResolution(AnyResolution.LLAVA_V1_6_PINPOINTS, 336, 24);
    AnyResolution ov = AnyResolution.onevision(AnyResolution.ONEVISION_PINPOINTS, 384, 27, 9);
    assertTrue(next.tilesImageAmong(1) && next.tilesImageAmong(3));
    assertTrue(ov.tilesImageAmong(1));
    assertTrue(!ov.tilesImageAmong(2));
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
