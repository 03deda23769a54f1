package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.web.errors.ApiError;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.ReadOnlyFileSystemException;
import org.junit.jupiter.api.Test;

class StorageFailuresTest {

  @Test
  void eachFailureNamesItsCauseEvenWhenItsTypeIsTheOnlyReason() {
    assertEquals("No space left on device", describe(new IOException("No space left on device")));
    assertEquals(
        "/d/a.json.tmp -> /d/a.json: Read-only file system",
        describe(new FileSystemException("/d/a.json.tmp", "/d/a.json", "Read-only file system")));
    assertEquals("/d/x: access denied", describe(new AccessDeniedException("/d/x")));
    assertEquals("read-only file system", describe(new ReadOnlyFileSystemException()));
    assertEquals(
        "/d/uploads/u: no such file or directory",
        describe(
            new io.vertx.core.file.FileSystemException(new NoSuchFileException("/d/uploads/u"))));
    assertEquals(
        "Disk quota exceeded",
        describe(new UncheckedIOException(new IOException("Disk quota exceeded"))));
  }

  @Test
  void onlyFileSystemFailuresAreTheDisksFault() {
    assertTrue(StorageFailures.is(new IOException("No space left on device")));
    assertTrue(StorageFailures.is(new ReadOnlyFileSystemException()));
    assertTrue(StorageFailures.is(new io.vertx.core.file.FileSystemException("x")));
    assertFalse(StorageFailures.is(new IllegalStateException("a bug")));
    assertFalse(StorageFailures.is(null));
  }

  @Test
  void aRequestGetsA507NamingTheDataDirectoryAndTheCause() {
    ApiError e =
        StorageFailures.apiError(
            "cannot store the file", new IOException("No space left on device"));
    assertEquals(507, e.status());
    assertEquals("storage_error", e.toJson().getJsonObject("error").getString("code"));
    assertEquals(
        "cannot store the file in the data directory (batch.data-dir): No space left on device",
        e.getMessage());
  }

  private static String describe(Throwable t) {
    assertTrue(StorageFailures.is(t), t.toString());
    return StorageFailures.describe(t);
  }
}
