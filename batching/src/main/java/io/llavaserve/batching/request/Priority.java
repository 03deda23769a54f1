package io.llavaserve.batching.request;

/** Scheduling class: interactive requests are admitted before batch-job requests. */
public enum Priority {
  INTERACTIVE,
  BATCH
}
