package io.llavaserve.web.batchjobs;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The writes the batch store makes in the data directory: the operations a full disk ({@code
 * ENOSPC}) or a read-only one fails. A server uses {@link #NIO}; a test puts in its place a disk
 * that fills up or turns read-only mid-job, so that the store's own failure handling runs. Reads go
 * straight to the file system: neither failure touches them.
 */
public interface DataDisk {

  /** Opens a file as {@link FileChannel#open(Path, OpenOption...)} does; for writing. */
  FileChannel open(Path file, OpenOption... options) throws IOException;

  /** Renames {@code from} over {@code to} in one step, replacing it. */
  void rename(Path from, Path to) throws IOException;

  void createDirectories(Path dir) throws IOException;

  void deleteIfExists(Path file) throws IOException;

  /** The file system as it is. */
  DataDisk NIO = new Nio();

  /** {@link #NIO}. */
  final class Nio implements DataDisk {

    private Nio() {}

    @Override
    public FileChannel open(Path file, OpenOption... options) throws IOException {
      return FileChannel.open(file, options);
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    @Override
    public void createDirectories(Path dir) throws IOException {
      Files.createDirectories(dir);
    }

    @Override
    public void deleteIfExists(Path file) throws IOException {
      Files.deleteIfExists(file);
    }

    @Override
    public String toString() {
      return "NIO";
    }
  }
}
