package io.llavaserve.web.batchjobs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The file system as it is, until a test fills it up or turns it read-only, as a real disk fails:
 * once full, a write takes what room is left (a short write) and the next one fails with {@code No
 * space left on device}, while renames, new empty files and truncates still work; once read-only,
 * every write, rename, new folder and delete fails with {@code Read-only file system}, files
 * already open included. Reads are never touched.
 */
final class FaultyDisk implements DataDisk {

  static final String NO_SPACE = "No space left on device";
  static final String READ_ONLY = "Read-only file system";

  private final AtomicLong room = new AtomicLong(Long.MAX_VALUE);
  private volatile boolean readOnly;
  private volatile boolean readOnlyAtSync;

  /** From now on, only {@code bytes} more bytes fit. */
  void fill(long bytes) {
    room.set(bytes);
  }

  void turnReadOnly() {
    readOnly = true;
  }

  /** Turns read-only at the next fsync, which fails: whatever was written before it stays. */
  void turnReadOnlyAtNextSync() {
    readOnlyAtSync = true;
  }

  /** Room again, and writable. */
  void free() {
    readOnly = false;
    room.set(Long.MAX_VALUE);
  }

  private void writable(Path file) throws FileSystemException {
    if (readOnly) {
      throw new FileSystemException(String.valueOf(file), null, READ_ONLY);
    }
  }

  @Override
  public FileChannel open(Path file, OpenOption... options) throws IOException {
    writable(file);
    return new Channel(file, FileChannel.open(file, options));
  }

  @Override
  public void rename(Path from, Path to) throws IOException {
    if (readOnly) {
      throw new FileSystemException(String.valueOf(from), String.valueOf(to), READ_ONLY);
    }
    DataDisk.NIO.rename(from, to);
  }

  @Override
  public void createDirectories(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      writable(dir);
    }
    DataDisk.NIO.createDirectories(dir);
  }

  @Override
  public void deleteIfExists(Path file) throws IOException {
    writable(file);
    DataDisk.NIO.deleteIfExists(file);
  }

  /** A channel whose writes draw on the disk's room. */
  private final class Channel extends FileChannel {

    private final Path file;
    private final FileChannel real;

    Channel(Path file, FileChannel real) {
      this.file = file;
      this.real = real;
    }

    /**
     * Lets through at most the room left; none left is ENOSPC. The room a write may take is taken
     * off at once, so that writers on other threads (the batch runner beside an upload) never see
     * the same room twice and drive it below zero.
     */
    private int write(ByteBuffer src, Long at) throws IOException {
      writable(file);
      long n;
      long left;
      do {
        left = room.get();
        n = Math.min(src.remaining(), left);
      } while (!room.compareAndSet(left, left - n));
      if (n == 0 && src.hasRemaining()) {
        throw new IOException(NO_SPACE);
      }
      ByteBuffer part = src.duplicate();
      part.limit(part.position() + (int) n);
      int written = 0;
      try {
        written = at == null ? real.write(part) : real.write(part, at);
      } finally {
        long unused = n - written;
        if (unused > 0) {
          room.updateAndGet(v -> v > Long.MAX_VALUE - unused ? Long.MAX_VALUE : v + unused);
        }
      }
      src.position(src.position() + written);
      return written;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      return write(src, null);
    }

    @Override
    public int write(ByteBuffer src, long position) throws IOException {
      return write(src, (Long) position);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
      long total = 0;
      for (int i = offset; i < offset + length; i++) {
        total += write(srcs[i]);
      }
      return total;
    }

    @Override
    public FileChannel truncate(long size) throws IOException {
      writable(file);
      real.truncate(size);
      return this;
    }

    @Override
    public void force(boolean metaData) throws IOException {
      if (readOnlyAtSync) {
        readOnlyAtSync = false;
        readOnly = true;
      }
      writable(file);
      real.force(metaData);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      return real.read(dst);
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
      return real.read(dsts, offset, length);
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
      return real.read(dst, position);
    }

    @Override
    public long position() throws IOException {
      return real.position();
    }

    @Override
    public FileChannel position(long newPosition) throws IOException {
      real.position(newPosition);
      return this;
    }

    @Override
    public long size() throws IOException {
      return real.size();
    }

    @Override
    public long transferTo(long position, long count, WritableByteChannel target)
        throws IOException {
      return real.transferTo(position, count, target);
    }

    @Override
    public long transferFrom(ReadableByteChannel src, long position, long count) {
      throw new UnsupportedOperationException("the batch store never transfers into a file");
    }

    @Override
    public MappedByteBuffer map(MapMode mode, long position, long size) {
      throw new UnsupportedOperationException("the batch store never maps a file");
    }

    @Override
    public FileLock lock(long position, long size, boolean shared) throws IOException {
      return real.lock(position, size, shared);
    }

    @Override
    public FileLock tryLock(long position, long size, boolean shared) throws IOException {
      return real.tryLock(position, size, shared);
    }

    @Override
    protected void implCloseChannel() throws IOException {
      real.close();
    }
  }
}
