package io.llavaserve.web.batchjobs;

import io.llavaserve.web.errors.ApiError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.ReadOnlyFileSystemException;
import java.util.logging.Logger;

/**
 * What the API and a job's errors say when the data directory cannot take a write: the disk is full
 * ({@code No space left on device}), read-only, or otherwise refuses. Such a failure is the
 * server's, not the client's, and is told apart by its type, never by its message.
 */
final class StorageFailures {

  private static final Logger LOG = Logger.getLogger(StorageFailures.class.getName());

  private StorageFailures() {}

  /** A failure to write a file: an I/O error, as NIO or Vert.x's file system reports it. */
  static boolean is(Throwable t) {
    return t instanceof IOException
        || t instanceof UncheckedIOException
        || t instanceof ReadOnlyFileSystemException
        || t instanceof io.vertx.core.file.FileSystemException;
  }

  /**
   * The cause in words: {@code "No space left on device"}, {@code "<file>: Read-only file system"},
   * {@code "<file>: access denied"}.
   */
  static String describe(Throwable t) {
    if ((t instanceof io.vertx.core.file.FileSystemException || t instanceof UncheckedIOException)
        && t.getCause() != null) {
      t = t.getCause(); // the NIO failure, wrapped
    }
    if (t instanceof FileSystemException e && e.getReason() == null) {
      // These carry only the file names; their type is the reason.
      String reason =
          e instanceof AccessDeniedException
              ? "access denied"
              : e instanceof NoSuchFileException
                  ? "no such file or directory"
                  : e instanceof NotDirectoryException
                      ? "not a directory"
                      : e.getClass().getSimpleName();
      return e.getMessage() + ": " + reason;
    }
    if (t instanceof ReadOnlyFileSystemException) {
      return "read-only file system";
    }
    return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
  }

  /**
   * The 507 a request gets when {@code what} ("cannot store the file") failed for want of a
   * writable disk; logged, since only the server's operator can act on it.
   */
  static ApiError apiError(String what, Throwable t) {
    String message = what + " in the data directory (batch.data-dir): " + describe(t);
    LOG.warning(message);
    return ApiError.storage(message);
  }
}
