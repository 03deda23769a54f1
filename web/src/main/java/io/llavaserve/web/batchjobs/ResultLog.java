package io.llavaserve.web.batchjobs;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * An append-only JSONL file of results that is also the job's progress record: a request is done
 * once its line is written and fsynced. Opening an existing log cuts off a trailing line that a
 * crash left half written (no newline, or not JSON) and reads the {@code custom_id}s already done,
 * so a resumed job neither loses nor repeats a line. An append that fails (a full or read-only
 * disk) is cut back off, so the file holds exactly the lines counted done.
 */
final class ResultLog implements AutoCloseable {

  private final Path path;
  private final FileChannel channel;
  private final Set<String> done;

  private ResultLog(Path path, FileChannel channel, Set<String> done) {
    this.path = path;
    this.channel = channel;
    this.done = done;
  }

  /** Opens {@code path} for appending, recovering what a crash may have left. */
  static ResultLog open(DataDisk disk, Path path) throws IOException {
    Set<String> done = new HashSet<>();
    long valid = 0;
    if (Files.exists(path)) {
      byte[] bytes = Files.readAllBytes(path);
      int start = 0;
      for (int i = 0; i < bytes.length; i++) {
        if (bytes[i] != '\n') {
          continue;
        }
        String id = customId(new String(bytes, start, i - start, StandardCharsets.UTF_8));
        if (id == null) {
          break; // a torn line; everything from here on is redone
        }
        done.add(id);
        start = i + 1;
        valid = start;
      }
    }
    FileChannel ch = disk.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    try {
      if (ch.size() > valid) {
        ch.truncate(valid);
        ch.force(true);
      }
      ch.position(valid);
    } catch (IOException e) {
      ch.close();
      throw e;
    }
    return new ResultLog(path, ch, done);
  }

  private static String customId(String line) {
    try {
      return new JsonObject(line).getString("custom_id");
    } catch (RuntimeException e) {
      return null;
    }
  }

  Set<String> done() {
    return Set.copyOf(done);
  }

  int size() {
    return done.size();
  }

  Path path() {
    return path;
  }

  /**
   * Appends lines and fsyncs once for all of them (a group commit); then they are done. When the
   * write or the fsync fails, none of them is done and what was written of them is cut off again;
   * except where every line was written whole and the disk refuses the cut (a disk turned read-only
   * between the write and the fsync): the lines then stay in the log, where the next {@link #open}
   * counts them, so they are done here too and the job's counts match its log.
   */
  void append(List<JsonObject> lines) throws IOException {
    if (lines.isEmpty()) {
      return;
    }
    StringBuilder b = new StringBuilder();
    for (JsonObject line : lines) {
      b.append(line.encode()).append('\n');
    }
    ByteBuffer buf = ByteBuffer.wrap(b.toString().getBytes(StandardCharsets.UTF_8));
    long end = channel.position();
    try {
      while (buf.hasRemaining()) {
        channel.write(buf);
      }
      channel.force(false);
    } catch (IOException e) {
      if (!cutBack(end, e) && !buf.hasRemaining()) {
        markDone(lines);
      }
      throw e;
    }
    markDone(lines);
  }

  private void markDone(List<JsonObject> lines) {
    for (JsonObject line : lines) {
      done.add(line.getString("custom_id"));
    }
  }

  /**
   * Cuts a failed append off (a truncate frees space, so it works on a full disk); false where it
   * fails too (a read-only disk), when the next {@link #open} cuts a torn line.
   */
  private boolean cutBack(long end, IOException failure) {
    try {
      channel.truncate(end);
      channel.position(end);
      channel.force(false);
      return true;
    } catch (IOException e) {
      failure.addSuppressed(e);
      return false;
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
