package io.llavaserve.batching.scheduler;

import io.llavaserve.batching.kvcache.BlockManager;
import io.llavaserve.batching.kvcache.BlockTable;
import io.llavaserve.batching.kvcache.CachedPrefix;
import io.llavaserve.batching.request.Priority;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Continuous batching with chunked prefill, one step at a time. Running sequences come first (their
 * decode tokens, or the rest of a chunked prefill), then waiting ones in arrival order within each
 * priority class, interactive before batch, all under a token budget and a sequence cap. When KV
 * blocks run out, the newest running sequence (of the lowest priority) is preempted: its blocks are
 * freed and it is recomputed later, cheaply when its prefix blocks are still cached. The block
 * manager answers with values (a {@link CachedPrefix}, an optional {@link BlockTable}); the choices
 * of a request for several share its first choice's full prompt blocks, forked once they are
 * computed, so the prompt is computed once whatever {@code n} (and whether or not prefix caching is
 * on); the scheduler applies them to its sequences, the only class that sets their scheduling
 * state. Owned by the engine thread; no locks.
 */
public final class Scheduler {

  private final SchedulerConfig config;
  private final BlockManager blocks;
  private final Map<Priority, Deque<Sequence>> waiting = new EnumMap<>(Priority.class);
  private final List<Sequence> running = new ArrayList<>();
  private long preemptions;

  public Scheduler(SchedulerConfig config, BlockManager blocks) {
    this.config = config;
    this.blocks = blocks;
    for (Priority p : Priority.values()) {
      waiting.put(p, new ArrayDeque<>());
    }
  }

  public SchedulerConfig config() {
    return config;
  }

  /** Queues a new sequence behind the others of its priority. */
  public void add(Sequence seq) {
    seq.setStatus(Sequence.Status.WAITING);
    waiting.get(seq.priority()).addLast(seq);
  }

  public boolean hasWork() {
    return !running.isEmpty() || waiting.values().stream().anyMatch(q -> !q.isEmpty());
  }

  public int numRunning() {
    return running.size();
  }

  public int numWaiting() {
    int n = 0;
    for (Deque<Sequence> q : waiting.values()) {
      n += q.size();
    }
    return n;
  }

  public long preemptions() {
    return preemptions;
  }

  /** Running sequences, in admission order. */
  public List<Sequence> running() {
    return List.copyOf(running);
  }

  /** Decides the next step. */
  public SchedulerOutput schedule() {
    int budget = config.maxNumBatchedTokens();
    List<ScheduledChunk> chunks = new ArrayList<>();
    List<Sequence> preempted = new ArrayList<>();

    for (int i = 0; i < running.size(); i++) {
      if (chunks.size() >= config.maxNumSeqs() || budget == 0) {
        break;
      }
      Sequence seq = running.get(i);
      if (seq.isBackpressured(config.maxBacklog())) {
        continue;
      }
      int n = Math.min(seq.numPendingTokens(), budget);
      if (n <= 0) {
        continue;
      }
      Optional<BlockTable> grown;
      while ((grown = blocks.allocateSlots(seq.blockTable(), seq.numComputedTokens() + n))
          .isEmpty()) {
        Sequence victim = victim(chunks, null);
        if (running.indexOf(victim) < i) {
          i--; // a skipped (backpressured) sequence before this one leaves the list
        }
        preempt(victim);
        preempted.add(victim);
        if (victim == seq) {
          break;
        }
      }
      if (grown.isEmpty()) {
        break; // seq was the last running one and is now waiting
      }
      seq.setBlockTable(grown.get());
      chunks.add(new ScheduledChunk(seq, seq.numComputedTokens(), n));
      budget -= n;
    }

    if (preempted.isEmpty()) {
      admit:
      for (Priority p : Priority.values()) {
        Deque<Sequence> queue = waiting.get(p);
        while (!queue.isEmpty() && chunks.size() < config.maxNumSeqs() && budget > 0) {
          Sequence seq = queue.peekFirst();
          // A later choice of a request for several shares the full prompt blocks of its first
          // choice: it waits until they are computed, then forks them (see BlockManager.fork).
          Sequence source = seq.forkSource();
          int shared = source == null ? 0 : (seq.promptLength() - 1) / blocks.blockSize();
          boolean forking = shared > 0 && source.status() == Sequence.Status.RUNNING;
          if (forking && source.numComputedTokens() < shared * blocks.blockSize()) {
            break; // the choices after it wait too; lower priorities may go on
          }
          // Make room first (or give up for this step) so that a prefix lookup is only made, and
          // counted, when the sequence can be admitted even if nothing of it is cached.
          int worstCase = ceilDiv(Math.min(seq.length(), budget), blocks.blockSize());
          while (blocks.numFreeBlocks() < worstCase) {
            Sequence victim = p == Priority.INTERACTIVE ? victim(chunks, Priority.BATCH) : null;
            if (victim == null) {
              break admit;
            }
            preempt(victim);
            preempted.add(victim);
          }
          // A waiting sequence holds no blocks (new, or preempted and freed).
          CachedPrefix prefix = forking ? CachedPrefix.NONE : blocks.findCachedPrefix(seq);
          int computed = forking ? shared * blocks.blockSize() : prefix.numTokens();
          int n = Math.min(seq.length() - computed, budget);
          Optional<BlockTable> table;
          // A victim below is of batch priority while seq is interactive, so never seq's source.
          while ((table =
                  forking
                      ? blocks.fork(source.blockTable(), shared, computed + n)
                      : blocks.allocate(prefix, computed + n))
              .isEmpty()) {
            // Interactive arrivals take blocks back from batch work; otherwise wait. Freeing a
            // victim evicts nothing, so the prefix found above stays valid.
            Sequence victim = p == Priority.INTERACTIVE ? victim(chunks, Priority.BATCH) : null;
            if (victim == null) {
              break admit;
            }
            preempt(victim);
            preempted.add(victim);
          }
          queue.pollFirst();
          seq.setBlockTable(table.get());
          seq.setNumComputedTokens(computed);
          // Only now: a lookup whose allocation failed reused nothing, and the next may find more.
          seq.recordCachedPrompt(computed);
          seq.clearForkSource();
          seq.setStatus(Sequence.Status.RUNNING);
          running.add(seq);
          chunks.add(new ScheduledChunk(seq, seq.numComputedTokens(), n));
          budget -= n;
        }
      }
    }
    return new SchedulerOutput(chunks, preempted);
  }

  /**
   * Records that the step of {@code out} ran: each scheduled sequence has now computed its chunk,
   * and the blocks that chunk filled are offered to the prefix cache. Call it right after the step,
   * before any sequence of it finishes.
   */
  public void commit(SchedulerOutput out) {
    for (ScheduledChunk c : out.chunks()) {
      Sequence seq = c.sequence();
      seq.setNumComputedTokens(c.end());
      seq.setBlockTable(blocks.commit(seq.blockTable(), seq, c.end()));
    }
  }

  /** Removes a finished or aborted sequence and frees its blocks. */
  public void finish(Sequence seq) {
    if (!running.remove(seq)) {
      waiting.get(seq.priority()).remove(seq);
    }
    release(seq);
    seq.setStatus(Sequence.Status.FINISHED);
  }

  /**
   * The sequence to preempt: the newest running one not already scheduled this step, of batch
   * priority when there is one (or only of {@code only}, when given). Null when none qualifies.
   */
  private Sequence victim(List<ScheduledChunk> chunks, Priority only) {
    Sequence fallback = null;
    for (int i = running.size() - 1; i >= 0; i--) {
      Sequence s = running.get(i);
      if (isScheduled(chunks, s)) {
        continue;
      }
      if (s.priority() == Priority.BATCH) {
        return s;
      }
      if (fallback == null) {
        fallback = s;
      }
    }
    return only == null ? fallback : null;
  }

  private static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  private static boolean isScheduled(List<ScheduledChunk> chunks, Sequence seq) {
    for (ScheduledChunk c : chunks) {
      if (c.sequence() == seq) {
        return true;
      }
    }
    return false;
  }

  private void preempt(Sequence seq) {
    running.remove(seq);
    release(seq);
    seq.setStatus(Sequence.Status.WAITING);
    waiting.get(seq.priority()).addFirst(seq);
    preemptions++;
  }

  /** Frees the sequence's blocks; it then holds none and has computed nothing. */
  private void release(Sequence seq) {
    blocks.free(seq.blockTable());
    seq.setBlockTable(BlockTable.EMPTY);
    seq.setNumComputedTokens(0);
  }
}
