package io.llavaserve.batching.scheduler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.TokenStream;
import io.llavaserve.batching.kvcache.BlockManager;
import io.llavaserve.batching.kvcache.BlockManagerInvariants;
import io.llavaserve.batching.kvcache.BlockTable;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.generate.OutputProcessor;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.RowOutput;
import io.llavaserve.engine.sampling.RowSampling;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.reactivex.rxjava3.subscribers.TestSubscriber;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The scheduler on its own, over a real block manager and no model: each step is schedule, a
 * pretend execution (commit, then one greedy token from a one-hot logits row for every sequence
 * whose chunk reached its end), update. Block invariants are checked after every step.
 */
class SchedulerTest {

  static final Tokenizer TOKENIZER = LlamaTokenizer.bundledLlama();
  static final int VOCAB = TOKENIZER.vocabSize();
  static final int NEXT_TOKEN = 500;
  static final int IMAGE_TOKEN = VOCAB; // never in these prompts

  private BlockManager blocks;
  private Scheduler scheduler;
  private final List<Sequence> all = new ArrayList<>();
  private long nextId;

  private void start(int numBlocks, int blockSize, SchedulerConfig config) {
    blocks = new BlockManager(numBlocks, blockSize, true);
    scheduler = new Scheduler(config, blocks);
  }

  @AfterEach
  void blocksAreConsistentAtTheEnd() {
    if (blocks != null) {
      checkBlocks();
    }
  }

  /** A sequence of {@code ids} that stops after {@code maxTokens}, queued. */
  private Sequence arrive(int[] ids, int maxTokens, Priority priority) {
    SamplingParams params =
        SamplingParams.builder().maxTokens(maxTokens).temperature(0).ignoreEos(true).build();
    GenerationRequest request =
        new GenerationRequest("r" + nextId, ids, List.of(), params, priority);
    ExpandedPrompt prompt = ExpandedPrompt.expand(ids, IMAGE_TOKEN, 1);
    Sequence seq =
        new Sequence(
            nextId++,
            request,
            prompt,
            new OutputProcessor(
                params, prompt.tokens(), -1, 1 << 20, TOKENIZER.newDetokenizer(true)),
            new TokenStream(() -> {}));
    all.add(seq);
    scheduler.add(seq);
    return seq;
  }

  private Sequence arrive(int promptLength, int firstToken, int maxTokens, Priority priority) {
    return arrive(
        IntStream.range(firstToken, firstToken + promptLength).toArray(), maxTokens, priority);
  }

  /** One step: schedule, commit as if the model ran, sample where a chunk completed, finish. */
  private SchedulerOutput step() {
    SchedulerOutput out = scheduler.schedule();
    scheduler.commit(out);
    float[] logits = new float[VOCAB];
    logits[NEXT_TOKEN] = 1;
    for (ScheduledChunk c : out.chunks()) {
      if (c.completesSequence()) {
        RowSampling sampling = c.sequence().nextSampling(VOCAB);
        Optional<FinishReason> done = c.sequence().append(RowOutput.of(logits, 0, VOCAB, sampling));
        done.ifPresent(
            reason -> {
              scheduler.finish(c.sequence());
              c.sequence().finish(reason, null);
            });
      }
    }
    checkBlocks();
    return out;
  }

  private void runToEnd() {
    for (int i = 0; scheduler.hasWork(); i++) {
      assertTrue(i < 1000, "the scheduler made no progress");
      step();
    }
  }

  private void checkBlocks() {
    List<BlockTable> tables = new ArrayList<>();
    for (Sequence s : all) {
      if (s.status() == Sequence.Status.FINISHED || s.status() == Sequence.Status.WAITING) {
        assertTrue(s.blockTable().isEmpty(), s + " holds blocks while " + s.status());
      }
      tables.add(s.blockTable());
    }
    BlockManagerInvariants.check(blocks, tables);
  }

  private static ScheduledChunk chunkOf(SchedulerOutput out, Sequence seq) {
    return out.chunks().stream().filter(c -> c.sequence() == seq).findFirst().orElse(null);
  }

  @Test
  void aLongPromptIsPrefilledInChunksUnderTheTokenBudget() {
    start(16, 4, SchedulerConfig.defaults().withMaxNumBatchedTokens(8));
    Sequence seq = arrive(20, 1, 2, Priority.INTERACTIVE);
    int[] starts = new int[3];
    int[] sizes = new int[3];
    for (int i = 0; i < 3; i++) {
      ScheduledChunk c = step().chunks().get(0);
      starts[i] = c.start();
      sizes[i] = c.numTokens();
    }
    assertArrayEquals(new int[] {0, 8, 16}, starts);
    assertArrayEquals(new int[] {8, 8, 4}, sizes);
    assertEquals(20, seq.numComputedTokens());
    assertEquals(1, seq.outputLength(), "a token is sampled only after the last chunk");
    assertEquals(5, seq.blockTable().numBlocks());
    runToEnd();
    assertEquals(Sequence.Status.FINISHED, seq.status());
    assertEquals(0, blocks.numUsedBlocks());
  }

  @Test
  void runningDecodesComeFirstAndTheSequenceCapHolds() {
    start(64, 4, SchedulerConfig.defaults().withMaxNumSeqs(2));
    Sequence a = arrive(5, 1, 4, Priority.INTERACTIVE);
    Sequence b = arrive(5, 100, 4, Priority.INTERACTIVE);
    Sequence c = arrive(5, 200, 4, Priority.INTERACTIVE);
    SchedulerOutput first = step();
    assertEquals(List.of(a, b), first.chunks().stream().map(ScheduledChunk::sequence).toList());
    assertEquals(1, scheduler.numWaiting());
    SchedulerOutput second = step();
    assertEquals(List.of(a, b), second.chunks().stream().map(ScheduledChunk::sequence).toList());
    assertEquals(1, chunkOf(second, a).numTokens(), "a decode step computes one position");
    assertEquals(Sequence.Status.WAITING, c.status());
    runToEnd();
    assertEquals(4, c.outputLength());
  }

  @Test
  void interactiveArrivalsAreAdmittedBeforeEarlierBatchOnes() {
    start(64, 4, SchedulerConfig.defaults().withMaxNumSeqs(1));
    Sequence batch = arrive(5, 1, 1, Priority.BATCH);
    Sequence interactive = arrive(5, 100, 1, Priority.INTERACTIVE);
    assertSame(interactive, step().chunks().get(0).sequence());
    assertSame(batch, step().chunks().get(0).sequence());
  }

  @Test
  void whenBlocksRunOutTheNewestRunningSequenceIsPreemptedFreedAndLaterRecomputed() {
    start(4, 4, SchedulerConfig.defaults());
    Sequence older = arrive(7, 1, 10, Priority.INTERACTIVE);
    Sequence newer = arrive(7, 100, 5, Priority.INTERACTIVE);
    step(); // both prefill: 2 blocks each, the pool is full
    step(); // both decode position 7, still in their second block
    SchedulerOutput out = step(); // position 8 needs a third block each
    assertEquals(List.of(newer), out.preempted());
    assertEquals(1, scheduler.preemptions());
    assertEquals(Sequence.Status.WAITING, newer.status());
    assertEquals(BlockTable.EMPTY, newer.blockTable());
    assertEquals(0, newer.numComputedTokens());
    assertEquals(2, newer.outputLength(), "its output stays; only its K/V is recomputed");
    assertEquals(3, older.blockTable().numBlocks());
    runToEnd();
    assertEquals(10, older.outputLength());
    assertEquals(5, newer.outputLength());
    assertEquals(Sequence.Status.FINISHED, newer.status());
    assertEquals(0, blocks.numUsedBlocks());
  }

  @Test
  void aSequenceWhosePrefixIsCachedStartsAfterIt() {
    start(16, 4, SchedulerConfig.defaults());
    int[] prompt = IntStream.range(1, 10).toArray(); // 9 tokens: two full blocks
    Sequence first = arrive(prompt, 1, Priority.INTERACTIVE);
    step();
    assertEquals(Sequence.Status.FINISHED, first.status());
    assertEquals(0, first.usage().cachedPromptTokens());
    Sequence second = arrive(prompt, 1, Priority.INTERACTIVE);
    ScheduledChunk c = step().chunks().get(0);
    assertEquals(8, c.start());
    assertEquals(1, c.numTokens());
    assertEquals(8, second.usage().cachedPromptTokens());
    assertEquals(9 + 9, blocks.stats().queries());
    assertEquals(8, blocks.stats().hits());
  }

  @Test
  void aSequenceThatCannotGetBlocksWaitsHoldingNothingAndIsNotLookedUp() {
    start(2, 4, SchedulerConfig.defaults());
    Sequence running = arrive(6, 1, 2, Priority.INTERACTIVE);
    Sequence waiting = arrive(6, 100, 1, Priority.INTERACTIVE);
    step();
    step();
    assertEquals(Sequence.Status.WAITING, waiting.status());
    assertTrue(waiting.blockTable().isEmpty());
    assertEquals(6, blocks.stats().queries(), "only the running sequence was looked up");
    assertEquals(0, scheduler.preemptions(), "interactive work never preempts interactive work");
    runToEnd();
    assertEquals(Sequence.Status.FINISHED, running.status());
    assertEquals(Sequence.Status.FINISHED, waiting.status());
    assertEquals(12, blocks.stats().queries());
  }

  @Test
  void anInteractiveArrivalTakesBlocksBackFromBatchWork() {
    start(2, 4, SchedulerConfig.defaults().withMaxBacklog(1));
    Sequence batch = arrive(6, 1, 3, Priority.BATCH);
    step(); // its first token is not taken: it stops decoding, holding its 2 blocks
    Sequence interactive = arrive(4, 100, 1, Priority.INTERACTIVE);
    SchedulerOutput out = step();
    assertEquals(List.of(batch), out.preempted());
    assertSame(interactive, out.chunks().get(0).sequence());
    assertEquals(Sequence.Status.FINISHED, interactive.status());
    batch.stream().flowable().test();
    runToEnd();
    assertEquals(3, batch.outputLength());
  }

  @Test
  void aBackpressuredSequenceIsSkippedUntilItsConsumerCatchesUp() {
    start(16, 4, SchedulerConfig.defaults().withMaxBacklog(1));
    Sequence seq = arrive(5, 1, 3, Priority.INTERACTIVE);
    step();
    assertTrue(step().isEmpty(), "a consumer one event behind stops its sequence");
    assertEquals(1, seq.outputLength());
    TestSubscriber<TokenEvent> consumer = seq.stream().flowable().test();
    assertFalse(step().isEmpty());
    runToEnd();
    consumer.assertComplete();
    assertEquals(3, seq.outputLength());
  }

  @Test
  void finishingFreesARunningSequenceAndDropsAWaitingOne() {
    start(16, 4, SchedulerConfig.defaults().withMaxNumSeqs(1));
    Sequence running = arrive(6, 1, 5, Priority.INTERACTIVE);
    Sequence waiting = arrive(6, 100, 5, Priority.INTERACTIVE);
    step();
    assertEquals(2, blocks.numUsedBlocks());
    scheduler.finish(running);
    scheduler.finish(waiting);
    assertEquals(Sequence.Status.FINISHED, running.status());
    assertTrue(running.blockTable().isEmpty());
    assertEquals(0, blocks.numUsedBlocks());
    assertFalse(scheduler.hasWork());
    assertTrue(step().isEmpty());
  }
}
