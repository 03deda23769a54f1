package io.llavaserve.web.batchjobs;

import io.llavaserve.web.lifecycle.RequestLifecycle;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The life of batch jobs: activates each (checks its input file, reads the results a previous run
 * left, counts), hands its lines to the {@link BatchPump}, writes the results as they come as a
 * group (fsynced, and only then counted), and ends it: completed or cancelled, its results
 * published as files; or failed, when its input cannot be used or its files cannot be written (a
 * full or read-only data directory: its running requests are aborted, the results written so far
 * stay in its folder, and the other jobs go on). One thread owns all of its state and the pump's;
 * engine events and prepared prompts hop onto it.
 */
public final class BatchRunner implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(BatchRunner.class.getName());

  private final BatchStore store;
  private final ScheduledExecutorService thread =
      Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "llava-batch-runner"));
  private final Map<String, JobRun> runs = new LinkedHashMap<>(); // runner thread only
  private final BatchPump pump;
  private boolean flushQueued; // runner thread only
  private volatile boolean closed;

  /**
   * @param lifecycle the way every line goes to the engine
   * @param maxInFlight lines running at once, across jobs
   */
  public BatchRunner(BatchStore store, RequestLifecycle lifecycle, int maxInFlight) {
    this.store = store;
    this.pump = new BatchPump(thread, lifecycle, maxInFlight, runs.values(), this::queueFlush);
  }

  /** Resumes every job a previous run left active; returns once their progress is read. */
  public void resumeAll() {
    List<BatchJob> oldestFirst = new ArrayList<>(store.list());
    java.util.Collections.reverse(oldestFirst);
    List<Future<?>> activated = new ArrayList<>();
    for (BatchJob job : oldestFirst) {
      if (job.status().active()) {
        activated.add(thread.submit(() -> guarded(job.id(), () -> activate(job.id()))));
      }
    }
    // Wait for the results already on disk to be counted, so the first answers show them.
    for (Future<?> f : activated) {
      try {
        f.get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (ExecutionException e) {
        LOG.log(Level.SEVERE, "resuming a batch failed", e);
      }
    }
  }

  /** Starts (or resumes) a job saved in the store. */
  public void start(String id) {
    thread.execute(() -> guarded(id, () -> activate(id)));
  }

  /**
   * Stops a job: no more submissions, running requests aborted, the done lines kept. Completes with
   * the job as it is once the cancel is recorded.
   */
  public CompletableFuture<BatchJob> cancel(String id) {
    CompletableFuture<BatchJob> result = new CompletableFuture<>();
    thread.execute(
        () -> {
          guarded(
              id,
              () -> {
                JobRun run = runs.get(id);
                if (run != null) {
                  beginCancel(run);
                }
              });
          result.complete(store.get(id).orElseThrow());
        });
    return result;
  }

  private void activate(String id) throws IOException {
    if (closed || runs.containsKey(id)) {
      return;
    }
    BatchJob job = store.get(id).orElseThrow();
    JobRun run = new JobRun(job);
    InputFile.Checked checked = null;
    if (job.status() == BatchJob.Status.VALIDATING || job.status() == BatchJob.Status.IN_PROGRESS) {
      var input = store.files().get(job.inputFileId());
      if (input.isEmpty()) {
        fail(
            run,
            List.of(
                new BatchJob.LineError(
                    "missing_file",
                    "input file " + job.inputFileId() + " no longer exists",
                    null)));
        return;
      }
      checked = InputFile.check(store.files().content(job.inputFileId()), job.endpoint());
      if (!checked.errors().isEmpty()) {
        fail(run, checked.errors());
        return;
      }
    }
    runs.put(id, run); // from here a failure closes the logs opened
    run.output = store.resultLog(id, "output.jsonl");
    run.errorLog = store.resultLog(id, "errors.jsonl");
    if (job.status() == BatchJob.Status.VALIDATING) {
      job =
          store.save(
              job.withCounts(new BatchJob.Counts(checked.lines().size(), 0, 0))
                  .to(BatchJob.Status.IN_PROGRESS));
    }
    run.job = job;
    if (checked != null && job.status() == BatchJob.Status.IN_PROGRESS) {
      for (InputFile.Line line : checked.lines()) {
        if (!run.output.done().contains(line.customId())
            && !run.errorLog.done().contains(line.customId())) {
          run.pending.add(line);
        }
      }
    }
    showCounts(run);
    if (job.status() == BatchJob.Status.CANCELLING) {
      run.cancelling = true;
    }
    if (run.allDone()) {
      finish(run);
    } else {
      pump.pump();
    }
  }

  private void queueFlush() {
    if (!flushQueued) {
      flushQueued = true;
      thread.execute(this::flush);
    }
  }

  /** Writes the results gathered since the last flush, one fsync per file, then submits more. */
  private void flush() {
    flushQueued = false;
    for (JobRun run : List.copyOf(runs.values())) {
      guarded(
          run.job.id(),
          () -> {
            writeResults(run);
            if (run.allDone()) {
              finish(run);
            }
          });
    }
    pump.pump();
  }

  private void writeResults(JobRun run) throws IOException {
    if (run.writeResults()) {
      showCounts(run);
    }
  }

  private void showCounts(JobRun run) {
    BatchJob.Counts c = run.job.counts();
    run.job =
        run.job.withCounts(new BatchJob.Counts(c.total(), run.output.size(), run.errorLog.size()));
    store.show(run.job);
  }

  private void beginCancel(JobRun run) throws IOException {
    if (run.cancelling || !run.job.status().active()) {
      return;
    }
    run.cancelling = true;
    run.job = store.save(run.job.to(BatchJob.Status.CANCELLING));
    run.pending.clear();
    pump.abort(run);
    queueFlush();
  }

  /** Publishes the results as files and ends the job (completed, or cancelled). */
  private void finish(JobRun run) throws IOException {
    BatchJob job = run.job;
    if (!run.cancelling && job.status() != BatchJob.Status.FINALIZING) {
      job = store.save(job.to(BatchJob.Status.FINALIZING));
    }
    run.output.close();
    run.errorLog.close();
    // Fixed ids: finishing again after a crash adopts the same files instead of making new ones.
    String suffix = job.id().substring("batch_".length());
    String out = publish(run.output, "file-out-" + suffix, job.id() + "_output.jsonl");
    // A job that fails from here on still names the file already published.
    run.job = job = job.withFiles(out, null);
    String err = publish(run.errorLog, "file-err-" + suffix, job.id() + "_error.jsonl");
    job =
        job.withFiles(out, err)
            .to(run.cancelling ? BatchJob.Status.CANCELLED : BatchJob.Status.COMPLETED);
    run.job = store.save(job);
    runs.remove(job.id());
  }

  private String publish(ResultLog log, String id, String name) throws IOException {
    if (store.files().get(id).isPresent()) {
      return id;
    }
    if (log.size() == 0 && !store.files().hasContent(id)) {
      return null;
    }
    return store.files().adopt(log.path(), id, name, "batch_output").id();
  }

  private void fail(JobRun run, List<BatchJob.LineError> errors) {
    runs.remove(run.job.id());
    store.end(run.job.withErrors(errors).to(BatchJob.Status.FAILED));
  }

  private interface Step {
    void run() throws IOException;
  }

  /** A job whose files cannot be written, or that meets a bug, fails; the others go on. */
  private void guarded(String id, Step step) {
    try {
      step.run();
    } catch (RuntimeException | IOException e) {
      BatchJob.LineError error;
      if (StorageFailures.is(e)) {
        LOG.log(Level.SEVERE, "batch " + id + " cannot write its files", e);
        error =
            new BatchJob.LineError(
                "storage_error",
                "cannot write the job's files in the data directory (batch.data-dir): "
                    + StorageFailures.describe(e),
                null);
      } else {
        LOG.log(Level.SEVERE, "batch " + id + " failed", e);
        error = new BatchJob.LineError("internal_error", String.valueOf(e.getMessage()), null);
      }
      abandon(id, error);
    }
  }

  /**
   * Fails a job that cannot go on: its running requests aborted (their KV blocks free at the next
   * step), its logs closed as they are. Its end is shown even when the disk cannot take it.
   */
  private void abandon(String id, BatchJob.LineError error) {
    JobRun run = runs.remove(id);
    BatchJob job;
    if (run != null) {
      pump.abort(run);
      run.closeLogs();
      job = run.job;
    } else {
      // It failed before it ran (its folder could not be made): it must not stay validating.
      job = store.get(id).filter(j -> j.status().active()).orElse(null);
      if (job == null) {
        return;
      }
    }
    if (!store.end(job.withErrors(List.of(error)).to(BatchJob.Status.FAILED))) {
      LOG.warning("batch " + id + " shows as failed; its state file is written once the disk can");
    }
  }

  /**
   * Stops all jobs where they are: running requests are aborted (they run again on resume), results
   * already gathered are written. Call before the engine closes, so that its aborts are not taken
   * for results.
   */
  @Override
  public void close() {
    try {
      thread
          .submit(
              () -> {
                closed = true;
                pump.close();
                for (JobRun run : runs.values()) {
                  pump.abort(run);
                  try {
                    writeResults(run);
                  } catch (IOException e) {
                    LOG.warning("batch " + run.job.id() + ": " + StorageFailures.describe(e));
                  } finally {
                    run.closeLogs();
                  }
                }
                store.writeUnsaved();
              })
          .get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      closed = true;
      LOG.warning("batch runner did not stop cleanly: " + e);
    }
    thread.shutdownNow();
  }
}
