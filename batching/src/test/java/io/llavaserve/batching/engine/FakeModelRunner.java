package io.llavaserve.batching.engine;

import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.ImagePlacement;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.sampling.RowOutput;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * A model runner for scheduler tests that keeps a real paged KV pool of its own: every step writes
 * each new position's content into its slot and reads the whole context back through the block
 * table, and the next token is a hash of that context. So a wrong block table, a false prefix-cache
 * hit or a lost block changes the output, and {@link #reference} gives what any request must
 * produce, computed without a cache.
 */
final class FakeModelRunner implements ModelRunner {

  static final int EOS = 2;
  static final int WIDTH = 4;

  private final KvCacheConfig kv;
  private final int vocab;
  private final long[][] pool;
  final List<ScheduledBatch> batches = new ArrayList<>();
  int visionRuns;
  int imagesEncoded;
  IntPredicate failStep = step -> false;
  private int steps;

  FakeModelRunner(int numBlocks, int blockSize, int vocab) {
    this.kv = new KvCacheConfig(blockSize, numBlocks);
    this.vocab = vocab;
    this.pool = new long[numBlocks][blockSize];
    for (long[] b : pool) {
      Arrays.fill(b, Long.MIN_VALUE); // never-written marker
    }
  }

  @Override
  public List<ImageFeatures> encodeImages(List<PixelValues> images) {
    visionRuns++;
    imagesEncoded += images.size();
    List<ImageFeatures> out = new ArrayList<>();
    for (PixelValues p : images) {
      out.add(features(p.digest(), rows));
    }
    return out;
  }

  int rows = 8;

  static ImageFeatures features(String digest, int rows) {
    float[] data = new float[rows * WIDTH];
    long h = digest.hashCode() & 0xffff;
    for (int r = 0; r < rows; r++) {
      data[r * WIDTH] = h * 1000 + r;
    }
    return new ImageFeatures(rows, WIDTH, data);
  }

  /** Content value of a text position. */
  static long textValue(int token) {
    return token;
  }

  /** Content value of an image position (a feature row). */
  static long imageValue(float feature) {
    return 1_000_000_000L + (long) feature;
  }

  static long fold(long h, long value) {
    return h * 1_000_003L + value;
  }

  /** The next token after a context whose content hash is {@code h}. */
  static int next(long h, int vocab) {
    long mixed = h ^ (h >>> 29) ^ (h >>> 47);
    if (Math.floorMod(mixed, 41) == 0) {
      return EOS;
    }
    return 3 + (int) Math.floorMod(mixed * 0x9E3779B97F4A7C15L, vocab - 3);
  }

  @Override
  public StepOutput execute(ScheduledBatch batch) {
    int step = steps++;
    if (failStep.test(step)) {
      throw new IllegalStateException("injected failure at step " + step);
    }
    batches.add(batch);
    int bs = kv.blockSize();
    // Write every new position first, as the real graph does.
    for (SequenceChunk c : batch.chunks()) {
      long[] values = values(c);
      for (int j = 0; j < c.length(); j++) {
        int pos = c.startPosition() + j;
        pool[c.blockTable()[pos / bs]][pos % bs] = values[j];
      }
    }
    int rows = batch.allLogits() ? batch.numTokens() : batch.chunks().size();
    float[] logits = new float[rows * vocab];
    int row = 0;
    for (SequenceChunk c : batch.chunks()) {
      int first = batch.allLogits() ? c.startPosition() : c.contextLength() - 1;
      for (int p = first; p < c.contextLength(); p++) {
        long h = 0;
        for (int q = 0; q <= p; q++) {
          long v = pool[c.blockTable()[q / bs]][q % bs];
          if (v == Long.MIN_VALUE) {
            throw new IllegalStateException("read of an unwritten slot at position " + q);
          }
          h = fold(h, v);
        }
        Arrays.fill(logits, row * vocab, (row + 1) * vocab, -10f);
        logits[row * vocab + next(h, vocab)] = 10f;
        row++;
      }
    }
    if (batch.allLogits()) {
      return new StepOutput(vocab, List.of(), logits);
    }
    List<RowOutput> out = new java.util.ArrayList<>(rows);
    for (int i = 0; i < rows; i++) {
      out.add(RowOutput.of(logits, i * vocab, vocab, batch.chunks().get(i).sampling()));
    }
    return new StepOutput(vocab, out, null);
  }

  private static long[] values(SequenceChunk c) {
    long[] v = new long[c.length()];
    for (int j = 0; j < c.length(); j++) {
      v[j] = textValue(c.tokenIds()[j]);
    }
    for (ImagePlacement p : c.images()) {
      for (int r = 0; r < p.rowCount(); r++) {
        v[p.chunkOffset() + r] = imageValue(p.features().data()[(p.firstRow() + r) * WIDTH]);
      }
    }
    return v;
  }

  /**
   * What a request must produce, computed from its content alone: {@code values} are the expanded
   * prompt's content values; generation stops at EOS or after {@code maxTokens}.
   */
  static int[] reference(long[] promptValues, int maxTokens, int vocab) {
    long h = 0;
    for (long v : promptValues) {
      h = fold(h, v);
    }
    int[] out = new int[maxTokens];
    int n = 0;
    while (n < maxTokens) {
      int t = next(h, vocab);
      out[n++] = t;
      if (t == EOS) {
        break;
      }
      h = fold(h, textValue(t));
    }
    return Arrays.copyOf(out, n);
  }

  @Override
  public KvCacheConfig kvCache() {
    return kv;
  }

  @Override
  public int vocabSize() {
    return vocab;
  }

  int steps() {
    return steps;
  }

  @Override
  public void close() {}
}
