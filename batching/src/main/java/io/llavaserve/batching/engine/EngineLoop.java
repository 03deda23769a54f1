package io.llavaserve.batching.engine;

import io.llavaserve.batching.events.OverloadedException;
import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.TokenStream;
import io.llavaserve.batching.kvcache.BlockManager;
import io.llavaserve.batching.kvcache.PrefixCacheStats;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.scheduler.ScheduledChunk;
import io.llavaserve.batching.scheduler.Scheduler;
import io.llavaserve.batching.scheduler.SchedulerOutput;
import io.llavaserve.batching.scheduler.Sequence;
import io.llavaserve.batching.vision.ImageFeatureCache;
import io.llavaserve.engine.generate.OutputProcessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.RowSampling;
import io.llavaserve.engine.sampling.constraint.GrammarMatchers;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.reactivex.rxjava3.core.Flowable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine's step loop. One thread owns the scheduler, the block manager, the image cache and the
 * runner; other threads talk to it only through {@link #submit}, {@link #abort} and {@link
 * #shutdown}, which queue commands. Each {@link #step()} schedules, executes ONE model step for the
 * whole batch (new images encoded first, in one vision run; tokens sampled on the device where the
 * request allows), and updates: commits the positions, appends and streams each sequence's token. A
 * sequence with a grammar asks the step for its whole logits row and, in the update, samples with
 * its matcher's token mask applied (masks and automata shared per grammar by {@link
 * GrammarMatchers}); the others pay nothing for it. A request for {@code n} choices is {@code n}
 * sequences on one stream, choice {@code i} seeded {@code seed + i}; aborting it aborts them all.
 */
final class EngineLoop {

  private static final Logger LOG = Logger.getLogger(EngineLoop.class.getName());

  private final ModelRunner runner;
  private final Tokenizer tokenizer;
  private final ModelSpec spec;
  private final EngineConfig config;
  private final BlockManager blocks;
  private final Scheduler scheduler;
  private final ImageFeatureCache imageCache;
  private final RequestValidator validator;
  private final GrammarMatchers grammars; // engine thread: matchers are made at a first token
  private final LinkedBlockingQueue<Runnable> commands = new LinkedBlockingQueue<>();
  private final Map<Long, Sequence> live = new HashMap<>();
  private final Map<Long, Sequence> notYetAdmitted = new LinkedHashMap<>();
  private final AtomicLong nextId = new AtomicLong();
  private final AtomicInteger waitingRequests = new AtomicInteger();
  private final AtomicLong waitingTokens = new AtomicLong();

  /** Orders arrivals before the shutdown command: none is queued after it, to wait forever. */
  private final Object arrivalGate = new Object();

  private boolean shuttingDown; // guarded by arrivalGate
  private boolean stopped; // engine thread
  private volatile EngineStats stats;
  private long steps;

  private long promptTokensComputed;
  private long tokensGenerated;
  private long requestsFinished;

  EngineLoop(ModelRunner runner, Tokenizer tokenizer, ModelSpec spec, EngineConfig config) {
    this.runner = runner;
    this.tokenizer = tokenizer;
    this.spec = spec;
    this.config = config;
    this.blocks =
        new BlockManager(
            runner.kvCache().numBlocks(),
            runner.kvCache().blockSize(),
            config.enablePrefixCaching());
    this.scheduler = new Scheduler(config.scheduler(), blocks);
    this.imageCache = new ImageFeatureCache(config.imageCacheBytes());
    this.stats = EngineStats.empty(runner.kvCache().numBlocks());
    this.validator =
        new RequestValidator(
            spec, runner.vocabSize(), runner.kvCache().numBlocks(), runner.kvCache().blockSize());
    this.grammars = new GrammarMatchers(tokenizer, spec.eosTokenId());
  }

  EngineStats stats() {
    return stats;
  }

  // ---- any thread ----

  /** The admission check of this loop's own spec and vocabulary. */
  RequestValidator validator() {
    return validator;
  }

  /**
   * Validates {@code request} with {@code admission} (this loop's validator, or one narrowed from
   * it) and queues it.
   *
   * @throws RequestRejectedException when the request can never run, naming the field and limit
   * @throws OverloadedException when the waiting queue is full
   */
  Flowable<TokenEvent> submit(GenerationRequest request, RequestValidator admission) {
    if (!admission.isFor(spec, runner.vocabSize())) {
      throw new IllegalArgumentException("the validator was made for another engine's spec");
    }
    ExpandedPrompt prompt = admission.validate(request);
    int n = request.n();
    long queuedTokens = (long) prompt.length() + (long) (n - 1) * forkedTokens(prompt.length());
    int queued = waitingRequests.addAndGet(n);
    long tokens = waitingTokens.addAndGet(queuedTokens);
    if (queued > config.scheduler().maxWaitingRequests()
        || tokens > config.scheduler().maxWaitingTokens()) {
      waitingRequests.addAndGet(-n);
      waitingTokens.addAndGet(-queuedTokens);
      throw new OverloadedException(
          queued > config.scheduler().maxWaitingRequests()
              ? "too many requests waiting (limit "
                  + config.scheduler().maxWaitingRequests()
                  + ", each choice counting one)"
              : "too many prompt tokens waiting (limit "
                  + config.scheduler().maxWaitingTokens()
                  + ")",
          1);
    }
    long[] ids = new long[n];
    for (int i = 0; i < n; i++) {
      ids[i] = nextId.incrementAndGet();
    }
    TokenStream stream = new TokenStream(() -> abortAll(ids), n);
    List<Sequence> choices = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      choices.add(
          new Sequence(
              ids[i],
              i,
              i == 0 ? null : choices.get(0),
              request,
              prompt,
              new OutputProcessor(
                  request.samplingOf(i).withMoreEos(spec.moreEosTokenIds()),
                  prompt.tokens(),
                  spec.eosTokenId(),
                  spec.maxModelLen(),
                  tokenizer.newDetokenizer(request.samplingOf(i).skipSpecialTokens()),
                  grammars),
              stream));
    }
    synchronized (arrivalGate) {
      if (shuttingDown) {
        waitingRequests.addAndGet(-n);
        waitingTokens.addAndGet(-queuedTokens);
        throw new IllegalStateException("engine is closed");
      }
      commands.add(() -> choices.forEach(this::arrive));
    }
    return stream.flowable();
  }

  /** {@link #submit(GenerationRequest, RequestValidator)} with this loop's own validator. */
  Flowable<TokenEvent> submit(GenerationRequest request) {
    return submit(request, validator);
  }

  /** Asks the loop to abort a request; its blocks are free at the next step. */
  void abort(long id) {
    commands.add(() -> abortNow(id));
  }

  /** Asks the loop to abort every choice of a request. */
  private void abortAll(long[] ids) {
    commands.add(
        () -> {
          for (long id : ids) {
            abortNow(id);
          }
        });
  }

  /**
   * Prompt positions a later choice computes itself: those after the full blocks it shares with the
   * first (the last position always among them).
   */
  private int forkedTokens(int promptLength) {
    int bs = blocks.blockSize();
    return promptLength - (promptLength - 1) / bs * bs;
  }

  /** Prompt positions a sequence counts while it waits: the whole prompt, or its forked tail. */
  private int queuedTokens(Sequence s) {
    return s.choice() == 0 ? s.promptLength() : forkedTokens(s.promptLength());
  }

  /**
   * Queues the last command: it aborts every live request and ends {@link #run()}, on the engine
   * thread, after the step in progress; submits from now on are refused. False when already done.
   */
  boolean shutdown() {
    synchronized (arrivalGate) {
      if (shuttingDown) {
        return false;
      }
      shuttingDown = true;
      commands.add(this::stop);
      return true;
    }
  }

  /** {@link System#nanoTime()} when the step now running began; 0 between steps. */
  private volatile long stepStarted;

  /** How long the step now running has run, in nanoseconds; 0 between steps. Any thread. */
  long stepRunningNanos() {
    long started = stepStarted;
    return started == 0 ? 0 : Math.max(1, System.nanoTime() - started);
  }

  // ---- engine thread ----

  /** Runs steps until the shutdown command, waiting for work when there is none. */
  void run() {
    while (!stopped) {
      try {
        drainCommands();
        if (!step() && !stopped) {
          Runnable r = commands.poll(scheduler.hasWork() ? 1 : 50, TimeUnit.MILLISECONDS);
          if (r != null) {
            r.run();
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        LOG.log(Level.SEVERE, "engine loop error", e);
      }
    }
  }

  void drainCommands() {
    Runnable r;
    while ((r = commands.poll()) != null) {
      r.run();
    }
  }

  /** One step: schedule, execute, update. False when there was nothing to run. */
  boolean step() {
    drainCommands();
    SchedulerOutput out = scheduler.hasWork() ? scheduler.schedule() : null;
    if (out == null || admitted(out).isEmpty()) {
      publishStats(0, 0);
      return false;
    }
    long start = System.nanoTime();
    stepStarted = start;
    try {
      StepOutput result = runner.execute(batchOf(out));
      update(out, result);
    } catch (RuntimeException e) {
      failStep(out, e);
    } finally {
      stepStarted = 0;
    }
    publishStats(System.nanoTime() - start, out.numTokens());
    return true;
  }

  /** Takes the newly scheduled sequences off the waiting counters. */
  private SchedulerOutput admitted(SchedulerOutput out) {
    for (ScheduledChunk c : out.chunks()) {
      if (notYetAdmitted.remove(c.sequence().id()) != null) {
        waitingRequests.decrementAndGet();
        waitingTokens.addAndGet(-queuedTokens(c.sequence()));
      }
    }
    return out;
  }

  /**
   * The runner's batch for the scheduled chunks: new images encoded first; a chunk that completes
   * its sequence asks for what that sequence's next token needs.
   */
  private ScheduledBatch batchOf(SchedulerOutput out) {
    encodeMissingImages(out.chunks());
    List<SequenceChunk> chunks = new ArrayList<>(out.chunks().size());
    for (ScheduledChunk c : out.chunks()) {
      Sequence s = c.sequence();
      chunks.add(
          new SequenceChunk(
              s.tokens(c.start(), c.end()),
              c.start(),
              s.blockTable().blockIds(),
              s.placements(c.start(), c.end()),
              c.completesSequence() ? s.nextSampling(runner.vocabSize()) : RowSampling.CANDIDATES));
    }
    return ScheduledBatch.of(chunks);
  }

  /** Commits the step's positions and appends a token to each sequence it completed. */
  private void update(SchedulerOutput out, StepOutput result) {
    steps++;
    scheduler.commit(out);
    for (int i = 0; i < out.chunks().size(); i++) {
      ScheduledChunk c = out.chunks().get(i);
      Sequence s = c.sequence();
      if (c.numTokens() > 1 || s.outputLength() == 0) {
        promptTokensComputed += c.numTokens();
      }
      if (c.completesSequence()) {
        tokensGenerated++;
        s.append(result.rows().get(i)).ifPresent(reason -> finish(s, reason, null));
      }
    }
  }

  /** A step that threw: its requests end with an error; the others and the engine go on. */
  private void failStep(SchedulerOutput out, RuntimeException e) {
    LOG.log(Level.WARNING, "step failed; its requests finish with an error", e);
    for (ScheduledChunk c : out.chunks()) {
      if (c.sequence().status() != Sequence.Status.FINISHED) {
        finish(c.sequence(), FinishReason.ERROR, "internal error: " + e.getMessage());
      }
    }
  }

  private void arrive(Sequence seq) {
    live.put(seq.id(), seq);
    notYetAdmitted.put(seq.id(), seq);
    scheduler.add(seq);
  }

  private void abortNow(long id) {
    Sequence seq = live.get(id);
    if (seq != null && seq.status() != Sequence.Status.FINISHED) {
      finish(seq, FinishReason.ABORT, null);
    }
  }

  private void finish(Sequence seq, FinishReason reason, String error) {
    scheduler.finish(seq);
    live.remove(seq.id());
    if (notYetAdmitted.remove(seq.id()) != null) {
      waitingRequests.decrementAndGet();
      waitingTokens.addAndGet(-queuedTokens(seq));
    }
    seq.finish(reason, error);
    if (seq.stream().isComplete()) {
      requestsFinished++; // its last choice
    }
  }

  /** Encodes, in one vision run, every image a chunk of this step needs and no cache holds. */
  private void encodeMissingImages(List<ScheduledChunk> chunks) {
    Map<String, PixelValues> toEncode = new LinkedHashMap<>();
    List<Object[]> pending = new ArrayList<>();
    for (ScheduledChunk c : chunks) {
      Sequence s = c.sequence();
      for (int i : s.imagesMissingFeatures(c.start(), c.end())) {
        ImageFeatures cached = imageCache.get(s.imageDigest(i));
        if (cached != null) {
          s.setFeatures(i, cached);
        } else {
          toEncode.putIfAbsent(s.imageDigest(i), s.image(i));
          pending.add(new Object[] {s, i});
        }
      }
    }
    if (toEncode.isEmpty()) {
      return;
    }
    List<String> digests = new ArrayList<>(toEncode.keySet());
    List<ImageFeatures> features = runner.encodeImages(new ArrayList<>(toEncode.values()));
    Map<String, ImageFeatures> byDigest = new HashMap<>();
    for (int k = 0; k < digests.size(); k++) {
      byDigest.put(digests.get(k), features.get(k));
      imageCache.put(digests.get(k), features.get(k));
    }
    for (Object[] p : pending) {
      Sequence s = (Sequence) p[0];
      int i = (Integer) p[1];
      s.setFeatures(i, byDigest.get(s.imageDigest(i)));
    }
  }

  private void publishStats(long stepNanos, int stepTokens) {
    PrefixCacheStats p = blocks.stats();
    EngineStats prev = stats;
    stats =
        new EngineStats(
            scheduler.numRunning(),
            scheduler.numWaiting(),
            blocks.numUsedBlocks(),
            blocks.numBlocks(),
            p.queries(),
            p.hits(),
            imageCache.hits(),
            imageCache.misses(),
            scheduler.preemptions(),
            steps,
            stepTokens == 0 ? prev.lastStepNanos() : stepNanos,
            stepTokens == 0 ? prev.lastStepTokens() : stepTokens,
            promptTokensComputed,
            tokensGenerated,
            requestsFinished);
  }

  /** The shutdown command: every request still live finishes with {@code abort}. */
  private void stop() {
    stopped = true; // first: the loop ends even if a subscriber throws below
    for (Sequence s : new ArrayList<>(live.values())) {
      try {
        finish(s, FinishReason.ABORT, null);
      } catch (RuntimeException e) {
        LOG.log(Level.WARNING, "aborting request " + s.request().requestId() + " at shutdown", e);
      }
    }
    publishStats(0, 0);
  }

  /** For tests: the block manager and live sequences' tables. */
  BlockManager blockManager() {
    return blocks;
  }

  List<Sequence> liveSequences() {
    return new ArrayList<>(live.values());
  }
}
