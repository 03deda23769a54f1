package io.llavaserve.web.batchjobs;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * The data directory: files ({@link FileStore}) and jobs, each job's state in {@code
 * batches/<id>.json} (replaced atomically on every change of status) and its results being written
 * in {@code batches/<id>/}. All writes go through one {@link DataDisk}. Blocking; call it off the
 * event loop.
 */
public final class BatchStore {

  private static final Logger LOG = Logger.getLogger(BatchStore.class.getName());

  private final DataDisk disk;
  private final Path batches;
  private final FileStore files;
  private final Map<String, BatchJob> jobs = new ConcurrentHashMap<>();
  private final Map<String, BatchJob> unsaved = new LinkedHashMap<>(); // guarded by this

  private BatchStore(DataDisk disk, Path batches, FileStore files) {
    this.disk = disk;
    this.batches = batches;
    this.files = files;
  }

  /** Opens (or creates) a data directory, writing through {@code disk}, and reads its jobs. */
  public static BatchStore open(Path dataDir, DataDisk disk) throws IOException {
    Path batches = dataDir.resolve("batches");
    disk.createDirectories(batches);
    BatchStore store = new BatchStore(disk, batches, new FileStore(disk, dataDir.resolve("files")));
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
  Path workDir(String id) {
    return batches.resolve(id);
  }

  /**
   * Opens one of a job's result logs ({@code output.jsonl}, {@code errors.jsonl}) in its folder.
   */
  ResultLog resultLog(String id, String name) throws IOException {
    disk.createDirectories(workDir(id));
    return ResultLog.open(disk, workDir(id).resolve(name));
  }

  /**
   * Records a change durably (state file replaced atomically) before it is visible; then writes the
   * ends that {@link #end} could only show.
   */
  synchronized BatchJob save(BatchJob job) throws IOException {
    write(job);
    unsaved.remove(job.id());
    jobs.put(job.id(), job);
    writeUnsaved();
    return job;
  }

  /**
   * Records the end of a job that must be visible even when its state file cannot be written (the
   * disk is full or read-only): shown at once, written now or at the next {@link #save} that
   * succeeds. A server stopped before then finds the job as it was last written, and resumes it.
   *
   * @return whether the state file was written
   */
  synchronized boolean end(BatchJob job) {
    jobs.put(job.id(), job);
    unsaved.put(job.id(), job);
    writeUnsaved();
    return !unsaved.containsKey(job.id());
  }

  /** Writes the ends only shown so far, oldest first, while the disk takes them. */
  synchronized void writeUnsaved() {
    for (Iterator<BatchJob> it = unsaved.values().iterator(); it.hasNext(); ) {
      try {
        write(it.next());
      } catch (IOException e) {
        LOG.warning(
            unsaved.size() + " batch states wait to be written: " + StorageFailures.describe(e));
        return;
      }
      it.remove();
    }
  }

  private void write(BatchJob job) throws IOException {
    AtomicFiles.write(
        disk,
        batches.resolve(job.id() + ".json"),
        job.toJson().encode().getBytes(StandardCharsets.UTF_8));
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
