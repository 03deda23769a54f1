package io.llavaserve.web.batchjobs;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Files under {@code <data-dir>/files}: the content as {@code <id>}, its description as {@code
 * <id>.json}. The description is written last, atomically: a file exists once it has one; a file
 * whose description cannot be written (a full or read-only disk) goes back where it came from.
 * Blocking; call it off the event loop.
 */
public final class FileStore {

  private static final SecureRandom RANDOM = new SecureRandom();
  private static final String ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

  private final DataDisk disk;
  private final Path dir;
  private final Map<String, StoredFile> files = new ConcurrentHashMap<>();

  FileStore(DataDisk disk, Path dir) throws IOException {
    this.disk = disk;
    this.dir = dir;
    disk.createDirectories(dir);
    try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "file-*.json")) {
      for (Path p : s) {
        StoredFile f = StoredFile.fromJson(new JsonObject(Files.readString(p)));
        files.put(f.id(), f);
      }
    }
  }

  static String newId(String prefix) {
    StringBuilder b = new StringBuilder(prefix);
    for (int i = 0; i < 24; i++) {
      b.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
    }
    return b.toString();
  }

  /** Takes over an uploaded file (moved, not copied) under a new id. */
  public StoredFile add(Path uploaded, String filename, String purpose) throws IOException {
    return adopt(uploaded, newId("file-"), filename, purpose);
  }

  /** Takes over {@code file} as {@code id}; again with the same id, returns the first one. */
  StoredFile adopt(Path file, String id, String filename, String purpose) throws IOException {
    StoredFile known = files.get(id);
    if (known != null) {
      return known;
    }
    Path content = content(id);
    boolean moved = !Files.exists(content);
    if (moved) {
      AtomicFiles.move(disk, file, content);
    } else {
      // Moved before a crash, the description not yet written: the content is already in place.
      disk.deleteIfExists(file);
    }
    StoredFile f =
        new StoredFile(
            id, Files.size(content), System.currentTimeMillis() / 1000, filename, purpose);
    try {
      AtomicFiles.write(disk, meta(id), f.toJson().encode().getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      if (moved) {
        // Not a file without its description: the content returns (a job's results to its
        // folder, an upload to be deleted with the request).
        try {
          AtomicFiles.move(disk, content, file);
        } catch (IOException back) {
          e.addSuppressed(back);
        }
      }
      throw e;
    }
    files.put(id, f);
    return f;
  }

  public Optional<StoredFile> get(String id) {
    return Optional.ofNullable(files.get(id));
  }

  /** Newest first. */
  public List<StoredFile> list() {
    return files.values().stream()
        .sorted(
            Comparator.comparingLong(StoredFile::createdAt)
                .reversed()
                .thenComparing(StoredFile::id))
        .toList();
  }

  boolean hasContent(String id) {
    return Files.exists(content(id));
  }

  public Path content(String id) {
    return dir.resolve(id);
  }

  /**
   * Removes a file; false when there is none. The description goes first: where that fails (a
   * read-only disk), the file is still there, listed as before.
   */
  public boolean delete(String id) throws IOException {
    if (!files.containsKey(id)) {
      return false;
    }
    disk.deleteIfExists(meta(id));
    files.remove(id);
    disk.deleteIfExists(content(id));
    AtomicFiles.syncFolder(dir);
    return true;
  }

  private Path meta(String id) {
    return dir.resolve(id + ".json");
  }
}
