package io.llavaserve.web.batchjobs;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.web.http.ApiError;
import io.llavaserve.web.http.ErrorResponses;
import io.llavaserve.web.http.RequestIds;
import io.llavaserve.web.openai.CompletionPipeline;
import io.llavaserve.web.openai.OpenAiRequest;
import io.llavaserve.web.openai.PromptPreparer;
import io.llavaserve.web.openai.WholeAnswer;
import io.reactivex.rxjava3.disposables.Disposable;
import io.vertx.core.AsyncResult;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
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
 * Runs every active job: feeds their lines to the engine at {@link Priority#BATCH}, at most {@code
 * batch.max-in-flight} at a time across jobs, submitting the next as results come in, and backing
 * off when the engine's queue is full. One thread owns all of its state; engine events and prepared
 * prompts hop onto it. Results are written as a group, fsynced, and only then counted.
 */
public final class BatchRunner implements AutoCloseable {

  private static final Logger LOG = Logger.getLogger(BatchRunner.class.getName());
  private static final long BACKOFF_MS = 100;

  private final BatchStore store;
  private final Map<String, CompletionPipeline> pipelines;
  private final int maxInFlight;
  private final ScheduledExecutorService thread =
      Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "llava-batch-runner"));
  private final Map<String, JobRun> runs = new LinkedHashMap<>(); // runner thread only
  private int inFlight; // runner thread only
  private long pausedUntil; // runner thread only; nanoTime after an overload
  private boolean flushQueued; // runner thread only
  private volatile boolean closed;

  /** One job's lines and results while it runs. */
  private static final class JobRun {
    BatchJob job;
    final Deque<InputFile.Line> pending = new ArrayDeque<>();
    final Map<String, Disposable> running = new HashMap<>(); // null value: still preparing
    final List<JsonObject> outputs = new ArrayList<>();
    final List<JsonObject> errors = new ArrayList<>();
    ResultLog output;
    ResultLog errorLog;
    boolean cancelling;

    JobRun(BatchJob job) {
      this.job = job;
    }

    boolean allDone() {
      return pending.isEmpty() && running.isEmpty() && outputs.isEmpty() && errors.isEmpty();
    }
  }

  /**
   * @param pipelines the pipeline of each endpoint a job may name
   */
  public BatchRunner(BatchStore store, Map<String, CompletionPipeline> pipelines, int maxInFlight) {
    this.store = store;
    this.pipelines = Map.copyOf(pipelines);
    this.maxInFlight = maxInFlight;
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
    var dir = store.workDir(id);
    run.output = ResultLog.open(dir.resolve("output.jsonl"));
    run.errorLog = ResultLog.open(dir.resolve("errors.jsonl"));
    runs.put(id, run);
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
      pump();
    }
  }

  /** Submits lines while there is room. */
  private void pump() {
    if (closed) {
      return;
    }
    long wait = pausedUntil - System.nanoTime();
    if (wait > 0) {
      return;
    }
    for (JobRun run : List.copyOf(runs.values())) {
      while (inFlight < maxInFlight && !run.cancelling && !run.pending.isEmpty()) {
        send(run, run.pending.pollFirst());
        if (pausedUntil - System.nanoTime() > 0) {
          return;
        }
      }
    }
  }

  private void send(JobRun run, InputFile.Line line) {
    CompletionPipeline pipeline = pipelines.get(run.job.endpoint());
    OpenAiRequest request;
    try {
      request = pipeline.parse(line.body());
    } catch (RuntimeException e) {
      refused(run, line, e);
      return;
    }
    inFlight++;
    run.running.put(line.customId(), null);
    pipeline
        .prepare(request)
        .onComplete(ar -> thread.execute(() -> prepared(run, line, request, ar)));
  }

  private void prepared(
      JobRun run,
      InputFile.Line line,
      OpenAiRequest request,
      AsyncResult<PromptPreparer.Prepared> ar) {
    if (closed || !run.running.containsKey(line.customId())) {
      return; // cancelled while preparing
    }
    if (ar.failed()) {
      release(run, line);
      refused(run, line, ar.cause());
      return;
    }
    CompletionPipeline pipeline = pipelines.get(run.job.endpoint());
    String requestId = RequestIds.next();
    String answerId = WholeAnswer.idPrefix(pipeline) + requestId;
    CompletionPipeline.Submitted submitted;
    try {
      submitted = pipeline.submit(answerId, request, ar.result(), Priority.BATCH);
    } catch (OverloadedException e) {
      // The engine's queue is full: this line goes back to the front and waits; none is dropped.
      release(run, line);
      run.pending.addFirst(line);
      pausedUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BACKOFF_MS);
      thread.schedule(this::pump, BACKOFF_MS, TimeUnit.MILLISECONDS);
      return;
    } catch (RuntimeException e) {
      release(run, line);
      refused(run, line, e);
      return;
    }
    WholeAnswer answer = WholeAnswer.of(pipeline, answerId, submitted.logprobs());
    Disposable d =
        submitted
            .events()
            .subscribe(
                event -> {
                  if (event instanceof TokenEvent.Token t) {
                    answer.add(t);
                  } else if (event instanceof TokenEvent.Finished f) {
                    thread.execute(() -> answered(run, line, requestId, answer, f));
                  }
                },
                failure -> thread.execute(() -> failed(run, line, requestId, failure)));
    if (run.running.containsKey(line.customId())) {
      run.running.put(line.customId(), d);
    }
  }

  private void answered(
      JobRun run,
      InputFile.Line line,
      String requestId,
      WholeAnswer answer,
      TokenEvent.Finished f) {
    if (closed || !run.running.containsKey(line.customId())) {
      return;
    }
    release(run, line);
    if (f.reason() == FinishReason.ERROR) {
      LOG.severe(
          "batch "
              + run.job.id()
              + " request "
              + requestId
              + " failed in the engine: "
              + f.error());
      run.errors.add(errorLine(line, requestId, ApiError.internal(requestId)));
    } else {
      run.outputs.add(resultLine(line, requestId, 200, answer.finish(f)));
    }
    queueFlush();
  }

  private void failed(JobRun run, InputFile.Line line, String requestId, Throwable failure) {
    if (closed || !run.running.containsKey(line.customId())) {
      return; // aborted by a cancel or a shutdown: not a result
    }
    release(run, line);
    run.errors.add(errorLine(line, requestId, ErrorResponses.toApiError(failure, requestId)));
    queueFlush();
  }

  /** A line whose body the endpoint refused: it goes to the error file and the job goes on. */
  private void refused(JobRun run, InputFile.Line line, Throwable why) {
    String requestId = RequestIds.next();
    run.errors.add(errorLine(line, requestId, ErrorResponses.toApiError(why, requestId)));
    queueFlush();
  }

  private void release(JobRun run, InputFile.Line line) {
    run.running.remove(line.customId());
    inFlight--;
  }

  static JsonObject resultLine(InputFile.Line line, String requestId, int status, JsonObject body) {
    return new JsonObject()
        .put("id", FileStore.newId("batch_req_"))
        .put("custom_id", line.customId())
        .put(
            "response",
            new JsonObject()
                .put("status_code", status)
                .put("request_id", requestId)
                .put("body", body))
        .put("error", (Object) null);
  }

  private static JsonObject errorLine(InputFile.Line line, String requestId, ApiError e) {
    return resultLine(line, requestId, e.status(), e.toJson());
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
    pump();
  }

  private void writeResults(JobRun run) throws IOException {
    if (run.outputs.isEmpty() && run.errors.isEmpty()) {
      return;
    }
    run.output.append(run.outputs);
    run.errorLog.append(run.errors);
    run.outputs.clear();
    run.errors.clear();
    showCounts(run);
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
    for (Disposable d : run.running.values()) {
      if (d != null) {
        d.dispose();
      }
    }
    inFlight -= run.running.size();
    run.running.clear();
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

  private void fail(JobRun run, List<BatchJob.LineError> errors) throws IOException {
    store.save(run.job.withErrors(errors).to(BatchJob.Status.FAILED));
    runs.remove(run.job.id());
  }

  private interface Step {
    void run() throws IOException;
  }

  /** A job whose files cannot be written fails; the others go on. */
  private void guarded(String id, Step step) {
    try {
      step.run();
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.SEVERE, "batch " + id + " failed", e);
      JobRun run = runs.remove(id);
      if (run != null) {
        for (Disposable d : run.running.values()) {
          if (d != null) {
            d.dispose();
          }
        }
        inFlight -= run.running.size();
        try {
          store.save(
              run.job
                  .withErrors(
                      List.of(
                          new BatchJob.LineError(
                              "internal_error", String.valueOf(e.getMessage()), null)))
                  .to(BatchJob.Status.FAILED));
        } catch (IOException ignored) {
          // The state file cannot be written either; the job resumes on the next start.
        }
      }
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
                for (JobRun run : runs.values()) {
                  for (Disposable d : run.running.values()) {
                    if (d != null) {
                      d.dispose();
                    }
                  }
                  try {
                    writeResults(run);
                    run.output.close();
                    run.errorLog.close();
                  } catch (IOException e) {
                    LOG.warning("batch " + run.job.id() + ": " + e);
                  }
                }
              })
          .get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      closed = true;
      LOG.warning("batch runner did not stop cleanly: " + e);
    }
    thread.shutdownNow();
  }
}
