package io.llavaserve.engine.checkpoint;

import java.nio.file.Path;

/**
 * A checkpoint that cannot be used. The message always names the file and, where there is one, the
 * field or tensor at fault, so the user can fix the checkpoint without a debugger.
 */
public final class CheckpointException extends Exception {

  private static final long serialVersionUID = 1L;

  public CheckpointException(String message) {
    super(message);
  }

  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }

  /** {@code file: tensor "name": problem}. */
  static CheckpointException tensor(Path file, String tensor, String problem) {
    return new CheckpointException(file + ": tensor \"" + tensor + "\": " + problem);
  }

  /** {@code file: field "name": problem}. */
  static CheckpointException field(Path file, String field, String problem) {
    return new CheckpointException(file + ": field \"" + field + "\": " + problem);
  }
}
