package io.llavaserve.cli;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The embedded default model: the deterministic {@code tiny} checkpoint, written on first use to a
 * cache folder so the launcher works on a machine with nothing downloaded.
 */
final class DefaultModel {

  /** Bump when the tiny preset changes, so an old cached copy is not reused. */
  static final String VERSION = "tiny-v1-seed0";

  private DefaultModel() {}

  static Path folder() {
    String home = System.getenv("LLAVA_SERVE_HOME");
    Path base =
        home != null && !home.isBlank()
            ? Paths.get(home)
            : Paths.get(System.getProperty("user.home"), ".cache", "llava-serve");
    return base.resolve("models").resolve(VERSION);
  }

  /** The default model's folder, written there first if absent. */
  static synchronized Path ensure() throws IOException {
    Path dir = folder();
    if (Files.exists(dir.resolve("config.json"))) {
      return dir;
    }
    Files.createDirectories(dir.getParent());
    Path tmp = Files.createTempDirectory(dir.getParent(), VERSION + ".tmp");
    try {
      TinyCheckpoint.write(tmp, TinySpec.tiny());
      try {
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, dir);
      }
    } catch (IOException e) {
      if (Files.exists(dir.resolve("config.json"))) {
        deleteTree(tmp); // another process won the race
        return dir;
      }
      throw e;
    }
    return dir;
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(q);
      }
    }
  }
}
