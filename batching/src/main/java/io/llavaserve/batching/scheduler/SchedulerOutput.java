package io.llavaserve.batching.scheduler;

import java.util.List;

/**
 * What one call to {@link Scheduler#schedule()} decided.
 *
 * @param chunks the step's work, running sequences first
 * @param preempted sequences whose blocks were taken back this step (they wait to be recomputed)
 */
public record SchedulerOutput(List<ScheduledChunk> chunks, List<Sequence> preempted) {

  public SchedulerOutput {
    chunks = List.copyOf(chunks);
    preempted = List.copyOf(preempted);
  }

  public boolean isEmpty() {
    return chunks.isEmpty();
  }

  public int numTokens() {
    int n = 0;
    for (ScheduledChunk c : chunks) {
      n += c.numTokens();
    }
    return n;
  }
}
