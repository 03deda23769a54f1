package io.llavaserve.engine.graph;

import static io.llavaserve.engine.graph.TfModelRunnerTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.image.PixelValues;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The packing plan on its own: its bilinear weights against PyTorch's {@code interpolate(...,
 * mode="bilinear")} as {@code make_onevision_fixtures.py} ran it ({@code onevision/bilinear.json},
 * every reduction real layouts need and a few odd sizes, on curved values where a wrong neighbour
 * or weight shows), the reference's interpolation against the same, and the rows a plan gathers.
 */
class TilePackingTest {

  private static JsonNode torchCases() throws IOException {
    try (InputStream in =
        TilePackingTest.class.getResourceAsStream(
            "/io/llavaserve/engine/image/onevision/bilinear.json")) {
      return new ObjectMapper().readTree(in).get("cases");
    }
  }

  /** The fixture's input: (y^2 + 2 x^2 + x y + 5 c) / 4096, exact in float32. */
  private static float[][][] input(int channels, int h, int w) {
    float[][][] t = new float[channels][h][w];
    for (int c = 0; c < channels; c++) {
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          t[c][y][x] = (y * y + 2 * x * x + x * y + 5 * c) / 4096f;
        }
      }
    }
    return t;
  }

  private static float[] expected(JsonNode c) {
    JsonNode v = c.get("values");
    float[] out = new float[v.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = (float) v.get(i).asDouble();
    }
    return out;
  }

  @Test
  void bilinearWeightsOfThePlanReproduceTorchsInterpolate() throws IOException {
    int checked = 0;
    for (JsonNode c : torchCases()) {
      int channels = c.get("channels").asInt();
      int ih = c.get("in").get(0).asInt();
      int iw = c.get("in").get(1).asInt();
      int oh = c.get("out").get(0).asInt();
      int ow = c.get("out").get(1).asInt();
      float[][][] in = input(channels, ih, iw);
      TilePacking.BilinearAxis down = TilePacking.BilinearAxis.of(ih, oh);
      TilePacking.BilinearAxis across = TilePacking.BilinearAxis.of(iw, ow);
      float[] got = new float[channels * oh * ow];
      for (int ch = 0; ch < channels; ch++) {
        for (int y = 0; y < oh; y++) {
          for (int x = 0; x < ow; x++) {
            // The graph's sum over four weighted taps, in float.
            float[] t = in[ch][down.index0()[y]];
            float[] b = in[ch][down.index1()[y]];
            got[(ch * oh + y) * ow + x] =
                down.lambda0()[y] * across.lambda0()[x] * t[across.index0()[x]]
                    + down.lambda0()[y] * across.lambda1()[x] * t[across.index1()[x]]
                    + down.lambda1()[y] * across.lambda0()[x] * b[across.index0()[x]]
                    + down.lambda1()[y] * across.lambda1()[x] * b[across.index1()[x]];
          }
        }
      }
      assertClose(expected(c), got, 5e-6, ih + "x" + iw + " -> " + oh + "x" + ow);
      checked++;
    }
    assertTrue(checked >= 10, checked + " reductions");
  }

  @Test
  void theReferencesInterpolationReproducesTorchsInterpolate() throws IOException {
    for (JsonNode c : torchCases()) {
      int channels = c.get("channels").asInt();
      int ih = c.get("in").get(0).asInt();
      int iw = c.get("in").get(1).asInt();
      int oh = c.get("out").get(0).asInt();
      int ow = c.get("out").get(1).asInt();
      float[][][] out =
          ReferenceLlavaOnevision.interpolateBilinear(input(channels, ih, iw), oh, ow);
      float[] flat = new float[channels * oh * ow];
      for (int ch = 0; ch < channels; ch++) {
        for (int y = 0; y < oh; y++) {
          System.arraycopy(out[ch][y], 0, flat, (ch * oh + y) * ow, ow);
        }
      }
      assertClose(expected(c), flat, 5e-6, ih + "x" + iw + " -> " + oh + "x" + ow);
    }
  }

  /** The tiny preset's OneVision: 60 px tiles of 4 x 4 features, 36 pinpoints, anyres_max_9. */
  private static final AnyResolution TINY =
      AnyResolution.onevision(AnyResolution.onevisionPinpoints(60), 60, 4, 9);

  private static PixelValues image(int tiles, int height, int width) {
    return PixelValues.tiled(tiles, 3, 60, 60, height, width, new float[tiles * 3 * 60 * 60]);
  }

  @Test
  void anImageAmongSeveralPacksItsTileAndOneNewline() {
    TilePacking plan = TilePacking.plan(List.of(image(1, 300, 200), image(1, 7, 3)), TINY);
    assertEquals(1, plan.taps());
    assertNull(plan.weights());
    assertArrayEquals(new int[] {17, 17}, plan.rowsPerImage());
    int[] want = new int[34];
    for (int r = 0; r < 16; r++) {
      want[r] = r;
      want[17 + r] = 16 + r;
    }
    want[16] = 32; // the newline row follows both tiles' 16 rows each
    want[33] = 32;
    assertArrayEquals(want, plan.index());
  }

  @Test
  void aReducedImageMakesEveryRowOfTheRunAWeightedSumOfFour() {
    // 240 x 300: a 4 x 5 grid, its 16 x 20 map reduced to 10 x 13; 45 x 70 is not reduced.
    PixelValues reduced = image(21, 240, 300);
    PixelValues plain = image(3, 45, 70);
    TilePacking plan = TilePacking.plan(List.of(plain, reduced), TINY);
    assertEquals(4, plan.taps());
    assertArrayEquals(new int[] {16 + 4 * 6 + 4, 16 + 10 * 13 + 10}, plan.rowsPerImage());
    float[] w = plan.weights();
    for (int r = 0; r < plan.rows(); r++) {
      float sum = w[r * 4] + w[r * 4 + 1] + w[r * 4 + 2] + w[r * 4 + 3];
      assertEquals(1f, sum, 1e-6f, "row " + r + "'s weights sum to 1");
    }
    // The first image's rows copy one source each, weighted 1, 0, 0, 0; its newlines are the row
    // after all 24 tiles' rows of this run, not after its own 3.
    TilePacking alone = TilePacking.plan(List.of(plain), TINY);
    for (int r = 0; r < alone.rows(); r++) {
      int source = alone.index()[r] == 3 * 16 ? 24 * 16 : alone.index()[r];
      assertEquals(source, plan.index()[r * 4], "row " + r);
      assertEquals(1f, w[r * 4]);
      assertEquals(0f, w[r * 4 + 1] + w[r * 4 + 2] + w[r * 4 + 3]);
    }
    // The second image's base tile is tiles 3..23's first: its rows start at 3 * 16.
    int second = alone.rows();
    assertEquals(3 * 16, plan.index()[second * 4]);
  }

  @Test
  void aWidenedPlanGathersTheSameRows() {
    TilePacking plan = TilePacking.plan(List.of(image(3, 45, 70)), TINY);
    TilePacking wide = plan.widened();
    assertEquals(4, wide.taps());
    assertEquals(plan.rows(), wide.rows());
    for (int r = 0; r < plan.rows(); r++) {
      assertEquals(plan.index()[r], wide.index()[r * 4]);
      assertEquals(1f, wide.weights()[r * 4]);
    }
  }
}
