package io.llavaserve.web.batchjobs;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.errors.RequestIds;
import io.llavaserve.web.lifecycle.Gate;
import io.llavaserve.web.lifecycle.Generation;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.lifecycle.WholeAnswerListener;
import io.llavaserve.web.openai.Endpoint;
import io.vertx.core.json.JsonObject;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Feeds the lines of the active jobs to the engine through the {@link RequestLifecycle} at {@link
 * Priority#BATCH}: at most {@code batch.max-in-flight} at a time across jobs, the next submitted as
 * results come in, and a pause when the engine's queue is full (the line goes back to the front of
 * its job; none is dropped). Each answer or error becomes a result line of its job, for the runner
 * to write.
 *
 * <p>At a cluster gateway the lifecycle's backend is the cluster's engines, and a line is sent
 * again rather than answered with {@code engine_unavailable}: at once when the engine running it
 * left (up to {@link #MAX_ENGINE_LOSSES} times, so a line that brings engines down ends), after a
 * pause when no engine of its model is there (a gateway that just started, or all engines gone). A
 * line ends once, with one result. Runs on the runner's thread only.
 */
final class BatchPump {

  private static final long BACKOFF_MS = 100;

  /** How long the pump waits when no engine can take a line (a gateway without engines). */
  private static final long NO_ENGINE_BACKOFF_MS = 500;

  /** Engines a line may lose mid-run before it is answered with {@code engine_unavailable}. */
  static final int MAX_ENGINE_LOSSES = 3;

  private final ScheduledExecutorService thread;
  private final RequestLifecycle lifecycle;
  private final int maxInFlight;
  private final Collection<JobRun> runs;
  private final Runnable resultsGathered;
  private int inFlight;
  private long pausedUntil; // nanoTime after an overload
  private boolean closed;

  /**
   * @param thread the runner's thread
   * @param runs the active jobs, oldest first (a live view)
   * @param resultsGathered run when a result line waits in a job, to have it written
   */
  BatchPump(
      ScheduledExecutorService thread,
      RequestLifecycle lifecycle,
      int maxInFlight,
      Collection<JobRun> runs,
      Runnable resultsGathered) {
    this.thread = thread;
    this.lifecycle = lifecycle;
    this.maxInFlight = maxInFlight;
    this.runs = runs;
    this.resultsGathered = resultsGathered;
  }

  /** Submits lines while there is room and the engine is not paused. */
  void pump() {
    if (closed || paused()) {
      return;
    }
    for (JobRun run : List.copyOf(runs)) {
      while (inFlight < maxInFlight && !run.cancelling && !run.pending.isEmpty()) {
        send(run, run.pending.pollFirst());
        if (paused()) {
          return;
        }
      }
    }
  }

  /** Aborts the running requests of {@code run}, freeing their places. */
  void abort(JobRun run) {
    inFlight -= run.abortRunning();
  }

  /** Submits nothing more. */
  void close() {
    closed = true;
  }

  private boolean paused() {
    return pausedUntil - System.nanoTime() > 0;
  }

  /** Submits nothing for {@code millis}, then pumps. */
  private void pause(long millis) {
    pausedUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    thread.schedule(this::pump, millis, TimeUnit.MILLISECONDS);
  }

  private void send(JobRun run, InputFile.Line line) {
    Endpoint endpoint = Endpoint.at(run.job.endpoint()).orElseThrow();
    String requestId = RequestIds.next();
    Generation generation;
    try {
      generation = lifecycle.accept(endpoint, line.body(), requestId, Priority.BATCH);
    } catch (RuntimeException e) {
      if (e instanceof ApiError a && a.isEngineUnavailable()) {
        // A gateway that knows no engine of the model (yet): the line waits.
        run.pending.addFirst(line);
        pause(NO_ENGINE_BACKOFF_MS);
        return;
      }
      // A body the endpoint refused: it goes to the error file and the job goes on.
      run.failed(line, requestId, ErrorResponses.toApiError(e, requestId));
      resultsGathered.run();
      return;
    }
    inFlight++;
    run.running.put(line.customId(), generation);
    generation.start(thread, Gate.OPEN, new LineAnswer(run, line, generation));
  }

  /** Gathers one line's answer into its job. */
  private final class LineAnswer extends WholeAnswerListener {

    private final JobRun run;
    private final InputFile.Line line;
    private final Generation generation;
    private boolean submitted;

    LineAnswer(JobRun run, InputFile.Line line, Generation generation) {
      super(generation);
      this.run = run;
      this.line = line;
      this.generation = generation;
    }

    @Override
    protected void answered(JsonObject response) {
      release();
      run.answered(line, generation.requestId(), response);
      resultsGathered.run();
    }

    @Override
    protected void failed(ApiError error) {
      release();
      run.failed(line, generation.requestId(), error);
      resultsGathered.run();
    }

    @Override
    public void onSubmitted() {
      submitted = true;
    }

    @Override
    public void onFailure(Throwable failure) {
      if (failure instanceof OverloadedException
          || failure instanceof ApiError a && a.status() == 429) {
        // The engine's queue is full (a cluster engine's arrives as its 429): this line goes back
        // to the front and waits.
        release();
        run.pending.addFirst(line);
        pause(BACKOFF_MS);
        return;
      }
      if (failure instanceof ApiError e && e.isEngineUnavailable() && !run.cancelling) {
        if (!submitted) {
          // No engine could take it: it waits for one.
          release();
          run.pending.addFirst(line);
          pause(NO_ENGINE_BACKOFF_MS);
          return;
        }
        if (run.engineLost(line) <= MAX_ENGINE_LOSSES) {
          // Its engine left mid-run: another one runs it from the start.
          release();
          run.pending.addFirst(line);
          thread.execute(BatchPump.this::pump);
          return;
        }
      }
      super.onFailure(failure);
    }

    private void release() {
      run.running.remove(line.customId());
      inFlight--;
    }
  }
}
