package io.llavaserve.engine.checkpoint;

import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The model that ships inside the jar: a small LLaVA trained by the project's own recipe ({@code
 * llava-serve train}) on the shapes world, in the llava-hf layout. It is copied on first use into a
 * cache folder, because the loader memory-maps safetensors files from disk.
 *
 * <p>The jar holds the config, weights (float16), preprocessor and processor configs and chat
 * template; the tokenizer files are the bundled LLaMA tokenizer's, written beside them.
 */
public final class EmbeddedModel {

  /** The folder name under {@code models/}; bumped whenever the shipped weights change. */
  public static final String VERSION = "shapes-llava-v11";

  private static final String RESOURCES = "/io/llavaserve/engine/default-model/";
  private static final List<String> FILES =
      List.of(
          Checkpoint.CONFIG,
          SafetensorsWriter.SINGLE_FILE,
          Checkpoint.PREPROCESSOR_CONFIG,
          Checkpoint.PROCESSOR_CONFIG,
          Checkpoint.CHAT_TEMPLATE);

  private EmbeddedModel() {}

  /** The folder the model is (or will be) unpacked to under {@code cacheBase}. */
  public static Path folder(Path cacheBase) {
    return cacheBase.resolve("models").resolve(VERSION);
  }

  /** The unpacked model's folder under {@code cacheBase}, unpacking it first if needed. */
  public static synchronized Path ensure(Path cacheBase) throws IOException {
    Path dir = folder(cacheBase);
    if (Files.exists(dir.resolve(Checkpoint.CONFIG))) {
      return dir;
    }
    Files.createDirectories(dir.getParent());
    Path tmp = Files.createTempDirectory(dir.getParent(), VERSION + ".tmp");
    try {
      for (String name : FILES) {
        try (InputStream in = EmbeddedModel.class.getResourceAsStream(RESOURCES + name)) {
          if (in == null) {
            throw new IOException("the jar lacks the embedded model's " + name);
          }
          Files.copy(in, tmp.resolve(name));
        }
      }
      LlamaTokenizer.writeBundledLlamaFiles(tmp);
      try {
        Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, dir);
      }
    } catch (IOException e) {
      deleteTree(tmp);
      if (Files.exists(dir.resolve(Checkpoint.CONFIG))) {
        return dir; // another process won the race
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
