package io.llavaserve.web.batchjobs;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The data directory: files ({@link FileStore}) and jobs, each job's state in {@code
 * batches/<id>.json} (replaced atomically on every change of status) and its results being written
 * in {@code batches/<id>/}. Blocking; call it off the event loop.
 */
public final class BatchStore {

  private final Path batches;
  private final FileStore files;
  private final Map<String, BatchJob> jobs = new ConcurrentHashMap<>();

  private BatchStore(Path batches, FileStore files) {
    this.batches = batches;
    this.files = files;
  }

  /** Opens (or creates) a data directory and reads the jobs in it. */
  public static BatchStore open(Path dataDir) throws IOException {
    Path batches = Files.createDirectories(dataDir.resolve("batches"));
    BatchStore store = new BatchStore(batches, new FileStore(dataDir.resolve("files")));
    try (DirectoryStream<Path> s = Files.newDirectoryStream(batches, "batch_*.json")) {
      for (Path p : s) {
        BatchJob job = BatchJob.fromJson(new JsonObject(Files.readString(p)));
        store.jobs.put(job.id(), job);
      }
    }
    return store;
  }

  public FileStore files() {
    return files;
  }

  /** Where a job's results are written while it runs. */
  Path workDir(String id) throws IOException {
    return Files.createDirectories(batches.resolve(id));
  }

  /** Records a change durably (state file replaced atomically) before it is visible. */
  synchronized BatchJob save(BatchJob job) throws IOException {
    AtomicFiles.write(
        batches.resolve(job.id() + ".json"),
        job.toJson().encode().getBytes(StandardCharsets.UTF_8));
    jobs.put(job.id(), job);
    return job;
  }

  /** Updates what readers see without a write (request counts, rebuilt from results on resume). */
  void show(BatchJob job) {
    jobs.put(job.id(), job);
  }

  public Optional<BatchJob> get(String id) {
    return Optional.ofNullable(jobs.get(id));
  }

  /** Newest first. */
  public List<BatchJob> list() {
    return jobs.values().stream()
        .sorted(
            Comparator.comparingLong(BatchJob::createdAt).reversed().thenComparing(BatchJob::id))
        .toList();
  }
}
