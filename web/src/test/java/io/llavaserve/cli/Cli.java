package io.llavaserve.cli;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import picocli.CommandLine;

/** Runs the launcher in-process with its output captured. */
final class Cli {

  /** What one command run printed, and its exit code. */
  record Run(int exit, String out, String err) {
    /** Stderr as the single line an execution error prints. */
    String errorLine() {
      String e = err.strip();
      if (e.lines().count() != 1) {
        throw new AssertionError("expected a one-line error, got:\n" + err);
      }
      return e;
    }
  }

  private Cli() {}

  static Run run(String... args) {
    CommandLine cli = Main.commandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int exit = cli.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }

  /** Writes a small gradient PNG. */
  static Path png(Path file, int width, int height) throws IOException {
    BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        img.setRGB(x, y, new Color((x * 7) % 256, (y * 11) % 256, 90).getRGB());
      }
    }
    ImageIO.write(img, "png", file.toFile());
    return file;
  }
}
