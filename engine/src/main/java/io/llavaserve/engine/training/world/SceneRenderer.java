package io.llavaserve.engine.training.world;

import io.llavaserve.engine.image.RgbImage;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Iterator;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;

/**
 * Paints a {@link Scene} with anti-aliased Java2D (works headless) and encodes it.
 *
 * <p>Rendering uses pure strokes and quality hints so that the same scene gives the same pixels on
 * every run of the same JVM; the shapes' outlines come from {@link ShapeOutline}.
 */
public final class SceneRenderer {

  private SceneRenderer() {}

  /** The scene as interleaved 8-bit RGB, row-major. */
  public static RgbImage render(Scene scene) {
    return rgb(paint(scene, 1.0));
  }

  /**
   * The scene drawn at a reduced scale so that neither side exceeds {@code maxSide} (the aspect
   * ratio kept, each side at least one pixel), or at full size when it already fits: what a scene
   * looks like after a downscale, for a fraction of the pixels. Training draws its images this way
   * at twice the tower's resolution, so the preprocessing's bicubic resize still sees every edge
   * anti-aliased at a finer scale than it keeps.
   */
  public static RgbImage render(Scene scene, int maxSide) {
    if (maxSide < 1) {
      throw new IllegalArgumentException("maxSide must be >= 1, got " + maxSide);
    }
    int longer = Math.max(scene.width(), scene.height());
    return rgb(paint(scene, longer <= maxSide ? 1.0 : (double) maxSide / longer));
  }

  private static RgbImage rgb(BufferedImage image) {
    int[] argb = ((DataBufferInt) image.getRaster().getDataBuffer()).getData();
    byte[] rgb = new byte[argb.length * 3];
    for (int i = 0; i < argb.length; i++) {
      rgb[3 * i] = (byte) (argb[i] >> 16);
      rgb[3 * i + 1] = (byte) (argb[i] >> 8);
      rgb[3 * i + 2] = (byte) argb[i];
    }
    return new RgbImage(image.getWidth(), image.getHeight(), rgb);
  }

  /** The scene as a lossless PNG. */
  public static byte[] png(Scene scene) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    if (!ImageIO.write(paint(scene), "png", out)) {
      throw new IOException("no PNG writer available");
    }
    return out.toByteArray();
  }

  /** The scene as a baseline JPEG of the given quality, from 0 (smallest) to 1 (best). */
  public static byte[] jpeg(Scene scene, float quality) throws IOException {
    if (!(quality >= 0 && quality <= 1)) {
      throw new IllegalArgumentException("quality must be 0 to 1, got " + quality);
    }
    Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("jpeg");
    if (!writers.hasNext()) {
      throw new IOException("no JPEG writer available");
    }
    ImageWriter writer = writers.next();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (ImageOutputStream stream = ImageIO.createImageOutputStream(out)) {
      ImageWriteParam param = writer.getDefaultWriteParam();
      param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
      param.setCompressionQuality(quality);
      writer.setOutput(stream);
      writer.write(null, new IIOImage(paint(scene), null, null), param);
    } finally {
      writer.dispose();
    }
    return out.toByteArray();
  }

  private static BufferedImage paint(Scene scene) {
    return paint(scene, 1.0);
  }

  private static BufferedImage paint(Scene scene, double scale) {
    int width = Math.max(1, (int) Math.round(scene.width() * scale));
    int height = Math.max(1, (int) Math.round(scene.height() * scale));
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
      g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
      g.setColor(new Color(scene.background()));
      g.fillRect(0, 0, width, height);
      if (scale != 1.0) {
        g.scale((double) width / scene.width(), (double) height / scene.height());
      }
      for (PlacedShape shape : scene.shapes()) {
        g.setColor(new Color(shape.rgb()));
        g.fill(ShapeOutline.of(shape));
      }
    } finally {
      g.dispose();
    }
    return image;
  }
}
