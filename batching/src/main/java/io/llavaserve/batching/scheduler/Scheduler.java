package io.llavaserve.batching.scheduler;

import io.llavaserve.batching.kvcache.BlockManager;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.batching.sequence.Sequence;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Continuous batching with chunked prefill, one step at a time. Running sequences come first (their
 * decode tokens, or the rest of a chunked prefill), then waiting ones in arrival order within each
 * priority class, interactive before batch, all under a token budget and a sequence cap. When KV
 * blocks run out, the newest running sequence (of the lowest priority) is preempted: its blocks are
 * freed and it is recomputed later, cheaply when its prefix blocks are still cached. Owned by the
 * engine thread; no locks.
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
      boolean allocated = false;
      while (!allocated) {
        allocated = blocks.allocateSlots(seq.blockTable(), seq.numComputedTokens() + n);
        if (!allocated) {
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
      }
      if (!allocated) {
        break; // seq was the last running one and is now waiting
      }
      chunks.add(new ScheduledChunk(seq, seq.numComputedTokens(), n));
      budget -= n;
    }

    if (preempted.isEmpty()) {
      admit:
      for (Priority p : Priority.values()) {
        Deque<Sequence> queue = waiting.get(p);
        while (!queue.isEmpty() && chunks.size() < config.maxNumSeqs() && budget > 0) {
          Sequence seq = queue.peekFirst();
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
          if (seq.blockTable().numBlocks() == 0) {
            int cached = blocks.allocateCachedPrefix(seq.blockTable(), seq);
            seq.setNumComputedTokens(cached);
          }
          int n = Math.min(seq.numPendingTokens(), budget);
          while (!blocks.allocateSlots(seq.blockTable(), seq.numComputedTokens() + n)) {
            // Interactive arrivals take blocks back from batch work; otherwise wait.
            Sequence victim = p == Priority.INTERACTIVE ? victim(chunks, Priority.BATCH) : null;
            if (victim == null) {
              blocks.free(seq.blockTable());
              seq.setNumComputedTokens(0);
              break admit;
            }
            preempt(victim);
            preempted.add(victim);
          }
          queue.pollFirst();
          // Only now: a lookup whose allocation failed reused nothing, and the next may find more.
          seq.recordCachedPrompt(seq.blockTable().numCachedTokens());
          seq.setStatus(Sequence.Status.RUNNING);
          running.add(seq);
          chunks.add(new ScheduledChunk(seq, seq.numComputedTokens(), n));
          budget -= n;
        }
      }
    }
    return new SchedulerOutput(chunks, preempted);
  }

  /** Removes a finished or aborted sequence and frees its blocks. */
  public void finish(Sequence seq) {
    if (!running.remove(seq)) {
      waiting.get(seq.priority()).remove(seq);
    }
    blocks.free(seq.blockTable());
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
    blocks.free(seq.blockTable());
    seq.setNumComputedTokens(0);
    seq.setStatus(Sequence.Status.WAITING);
    waiting.get(seq.priority()).addFirst(seq);
    preemptions++;
  }
}
