package io.llavaserve.cli;

import io.llavaserve.engine.checkpoint.EmbeddedModel;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The embedded default model ({@link EmbeddedModel}: a small LLaVA trained on the shapes world),
 * unpacked on first use under {@code $LLAVA_SERVE_HOME} or {@code ~/.cache/llava-serve}, so the
 * launcher works on a machine with nothing downloaded.
 */
final class DefaultModel {

  private DefaultModel() {}

  /** Where cached files go: {@code $LLAVA_SERVE_HOME}, else {@code ~/.cache/llava-serve}. */
  static Path cacheBase() {
    String home = System.getenv("LLAVA_SERVE_HOME");
    return home != null && !home.isBlank()
        ? Paths.get(home)
        : Paths.get(System.getProperty("user.home"), ".cache", "llava-serve");
  }

  static Path folder() {
    return EmbeddedModel.folder(cacheBase());
  }

  /** The default model's folder, unpacked there first if absent. */
  static Path ensure() throws IOException {
    return EmbeddedModel.ensure(cacheBase());
  }
}
