package io.llavaserve.web;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The common {@link TestServer}, started once for a test class in a temporary folder of its own and
 * closed after it: {@code @RegisterExtension static final SharedServer server = new
 * SharedServer();}, then {@link #get()} in the tests.
 */
final class SharedServer implements BeforeAllCallback, AfterAllCallback {

  private Path dir;
  private TestServer server;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    dir = Files.createTempDirectory("llava-serve-test");
    server = TestServer.start(dir);
  }

  @Override
  public void afterAll(ExtensionContext context) throws IOException {
    try {
      if (server != null) {
        server.close();
      }
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  /** The running server. */
  TestServer get() {
    if (server == null) {
      throw new IllegalStateException("the server starts before the class's first test");
    }
    return server;
  }
}
