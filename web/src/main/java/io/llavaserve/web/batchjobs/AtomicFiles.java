package io.llavaserve.web.batchjobs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Durable small-file writes: a reader sees the old content or the new, never a mix. */
final class AtomicFiles {

  private AtomicFiles() {}

  /**
   * Writes a temporary sibling, fsyncs it, renames it over {@code target}, fsyncs the folder. When
   * a step fails (a full or read-only disk), {@code target} is as it was and the sibling is gone.
   */
  static void write(DataDisk disk, Path target, byte[] data) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    try {
      try (FileChannel ch =
          disk.open(
              tmp,
              StandardOpenOption.CREATE,
              StandardOpenOption.TRUNCATE_EXISTING,
              StandardOpenOption.WRITE)) {
        ByteBuffer b = ByteBuffer.wrap(data);
        while (b.hasRemaining()) {
          ch.write(b);
        }
        ch.force(true);
      }
      disk.rename(tmp, target);
    } catch (IOException e) {
      try {
        disk.deleteIfExists(tmp);
      } catch (IOException cleanup) {
        e.addSuppressed(cleanup);
      }
      throw e;
    }
    syncFolder(target.getParent());
  }

  /** Moves a file within the data directory atomically and makes the move durable. */
  static void move(DataDisk disk, Path from, Path to) throws IOException {
    sync(disk, from);
    disk.rename(from, to);
    syncFolder(to.getParent());
    syncFolder(from.getParent());
  }

  static void sync(DataDisk disk, Path file) throws IOException {
    try (FileChannel ch = disk.open(file, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  /** Makes renames and new names in {@code dir} durable; a no-op where folders cannot be opened. */
  static void syncFolder(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // Not every platform lets a folder be opened (Windows); the rename itself is still atomic.
    }
  }
}
