package io.llavaserve.web.batchjobs;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where batch jobs keep their files and how hard they drive the engine; read once at start.
 *
 * @param dataDir the data directory: uploaded files, job state, results
 * @param maxInFlight batch requests submitted and not yet finished, across all jobs
 * @param maxFileBytes largest file {@code POST /v1/files} accepts
 * @param disk how the data directory is written: {@link DataDisk#NIO}, or a test's disk that fills
 *     up
 */
public record BatchConfig(Path dataDir, int maxInFlight, long maxFileBytes, DataDisk disk) {

  /** The default of {@code batch.max-in-flight}. */
  public static final int DEFAULT_MAX_IN_FLIGHT = 48;

  public BatchConfig {
    Objects.requireNonNull(dataDir, "batch.data-dir");
    Objects.requireNonNull(disk, "disk");
    if (maxInFlight < 1) {
      throw new IllegalArgumentException("batch.max-in-flight must be >= 1, got " + maxInFlight);
    }
    if (maxFileBytes < 1) {
      throw new IllegalArgumentException("batch.max-file-bytes must be >= 1, got " + maxFileBytes);
    }
  }

  /** A data directory on the file system as it is. */
  public BatchConfig(Path dataDir, int maxInFlight, long maxFileBytes) {
    this(dataDir, maxInFlight, maxFileBytes, DataDisk.NIO);
  }

  /** Defaults for a data directory. */
  public static BatchConfig in(Path dataDir) {
    return new BatchConfig(dataDir, DEFAULT_MAX_IN_FLIGHT, 200L << 20);
  }

  public BatchConfig withMaxInFlight(int n) {
    return new BatchConfig(dataDir, n, maxFileBytes, disk);
  }

  public BatchConfig withDisk(DataDisk d) {
    return new BatchConfig(dataDir, maxInFlight, maxFileBytes, d);
  }
}
