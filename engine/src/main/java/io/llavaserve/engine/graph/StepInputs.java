package io.llavaserve.engine.graph;

import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.runner.ImagePlacement;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.sampling.RowSampling;
import java.util.ArrayList;
import java.util.List;

/**
 * The flat arrays a {@link DecoderStep} is fed, laid out from a {@link ScheduledBatch}:
 * single-token chunks first, then the longer ones, each group's block tables padded to its widest.
 * Checks every index the graph would otherwise trip over.
 */
final class StepInputs {

  int[] inputIds;
  int[] positions;
  int kvHeads;

  /** [T, kv_heads, 3]: (block, head, offset) of each token's key and value. */
  int[] slots;

  float[] imageRows;
  int[] imagePositions;
  int imageRowCount;
  int decodeSeqs;
  int decodeBlocks;
  int[] decodeTables;
  int[] decodeLens;
  int prefillSeqs;
  int prefillBlocks;
  int prefillWidth;
  int[] prefillTables;
  int[] prefillTokenIndex;
  int[] prefillQueryPositions;
  int[] prefillGatherIndex;
  int[] logitsIndex;

  /** For each logits row computed, the row of the output it belongs to. */
  int[] outputRow;

  // Per logits row (not for all-logits batches): what its chunk's sampling asks of the device.
  float[] temperature;
  float[] minP;
  float[] uniform;
  int[] fullRowIndex; // logits rows returned whole
  byte[] mask; // [rows, maskBytes] when some row has a token mask, else null
  int maskBytes; // ceil(vocab / 8)
  boolean logprobs;
  boolean draws;
  int candidates = 1; // K of the step: the most any row asks for

  private StepInputs() {}

  static StepInputs of(ScheduledBatch batch, KvCacheConfig kv, LlavaConfig config) {
    int bs = kv.blockSize();
    int width = config.text().hiddenSize();
    int vocab = config.text().vocabSize();
    List<SequenceChunk> chunks = batch.chunks();

    // Layout order: decode chunks, then prefill chunks; remember each chunk's original index.
    List<Integer> order = new ArrayList<>(chunks.size());
    for (int i = 0; i < chunks.size(); i++) {
      if (chunks.get(i).length() == 1) {
        order.add(i);
      }
    }
    int decodeSeqs = order.size();
    for (int i = 0; i < chunks.size(); i++) {
      if (chunks.get(i).length() > 1) {
        order.add(i);
      }
    }
    int[] originalTokenOffset = new int[chunks.size()];
    int total = 0;
    int imageTotal = 0;
    for (int i = 0; i < chunks.size(); i++) {
      originalTokenOffset[i] = total;
      SequenceChunk c = chunks.get(i);
      total += c.length();
      imageTotal += TfModelRunner.imageRowsOf(c);
      check(c, i, kv);
    }

    StepInputs in = new StepInputs();
    in.inputIds = new int[total];
    in.positions = new int[total];
    int kvHeads = config.text().numKeyValueHeads();
    in.kvHeads = kvHeads;
    in.slots = new int[total * kvHeads * 3];
    in.imageRows = new float[imageTotal * width];
    in.imagePositions = new int[imageTotal];
    in.imageRowCount = imageTotal;
    in.decodeSeqs = decodeSeqs;
    in.prefillSeqs = chunks.size() - decodeSeqs;

    int decodeBlocks = 1;
    int prefillBlocks = 1;
    int prefillWidth = 1;
    for (int k = 0; k < order.size(); k++) {
      SequenceChunk c = chunks.get(order.get(k));
      int blocks = ceilDiv(c.contextLength(), bs);
      if (k < decodeSeqs) {
        decodeBlocks = Math.max(decodeBlocks, blocks);
      } else {
        prefillBlocks = Math.max(prefillBlocks, blocks);
        prefillWidth = Math.max(prefillWidth, c.length());
      }
    }
    in.decodeBlocks = decodeBlocks;
    in.prefillBlocks = prefillBlocks;
    in.prefillWidth = prefillWidth;
    in.decodeTables = new int[decodeSeqs * decodeBlocks];
    in.decodeLens = new int[decodeSeqs];
    in.prefillTables = new int[in.prefillSeqs * prefillBlocks];
    in.prefillTokenIndex = new int[in.prefillSeqs * prefillWidth];
    in.prefillQueryPositions = new int[in.prefillSeqs * prefillWidth];
    java.util.Arrays.fill(in.prefillQueryPositions, -1);
    in.prefillGatherIndex = new int[total - decodeSeqs];
    int logitRows = batch.allLogits() ? total : chunks.size();
    in.logitsIndex = new int[logitRows];
    in.outputRow = new int[logitRows];
    in.temperature = new float[logitRows];
    in.minP = new float[logitRows];
    in.uniform = new float[logitRows];
    int[] full = new int[logitRows];
    int fullRows = 0;
    in.maskBytes = (vocab + 7) / 8;
    if (!batch.allLogits() && chunks.stream().anyMatch(c -> c.sampling().mask() != null)) {
      in.mask = new byte[logitRows * in.maskBytes];
      java.util.Arrays.fill(in.mask, (byte) -1);
    }

    int t = 0;
    int imageRow = 0;
    int gather = 0;
    int logitRow = 0;
    for (int k = 0; k < order.size(); k++) {
      int original = order.get(k);
      SequenceChunk c = chunks.get(original);
      int[] table = c.blockTable();
      int base = t;
      boolean[] isImage = new boolean[c.length()];
      for (ImagePlacement p : c.images()) {
        for (int j = 0; j < p.rowCount(); j++) {
          isImage[p.chunkOffset() + j] = true;
          in.imagePositions[imageRow] = base + p.chunkOffset() + j;
          System.arraycopy(
              p.features().data(),
              (p.firstRow() + j) * width,
              in.imageRows,
              imageRow * width,
              width);
          imageRow++;
        }
      }
      for (int j = 0; j < c.length(); j++) {
        int id = c.tokenIds()[j];
        int pos = c.startPosition() + j;
        if (!isImage[j] && (id < 0 || id >= vocab)) {
          throw new IllegalArgumentException(
              "chunk " + original + ": token id " + id + " is outside the vocabulary of " + vocab);
        }
        // Image positions take their embedding from the features; any valid row will do here.
        in.inputIds[t] = isImage[j] ? 0 : id;
        in.positions[t] = pos;
        for (int h = 0; h < kvHeads; h++) {
          int at = (t * kvHeads + h) * 3;
          in.slots[at] = table[pos / bs];
          in.slots[at + 1] = h;
          in.slots[at + 2] = pos % bs;
        }
        t++;
      }
      int blocks = ceilDiv(c.contextLength(), bs);
      if (k < decodeSeqs) {
        System.arraycopy(table, 0, in.decodeTables, k * decodeBlocks, blocks);
        in.decodeLens[k] = c.contextLength();
      } else {
        int s = k - decodeSeqs;
        System.arraycopy(table, 0, in.prefillTables, s * prefillBlocks, blocks);
        for (int j = 0; j < prefillWidth; j++) {
          in.prefillTokenIndex[s * prefillWidth + j] = base + Math.min(j, c.length() - 1);
          if (j < c.length()) {
            in.prefillQueryPositions[s * prefillWidth + j] = c.startPosition() + j;
            in.prefillGatherIndex[gather++] = s * prefillWidth + j;
          }
        }
      }
      if (batch.allLogits()) {
        for (int j = 0; j < c.length(); j++) {
          in.logitsIndex[logitRow] = base + j;
          in.outputRow[logitRow] = originalTokenOffset[original] + j;
          logitRow++;
        }
      } else {
        in.logitsIndex[logitRow] = base + c.length() - 1;
        in.outputRow[logitRow] = original;
        RowSampling rs = c.sampling();
        in.temperature[logitRow] = rs.temperature();
        in.minP[logitRow] = rs.minP();
        in.uniform[logitRow] = rs.uniform();
        in.logprobs |= rs.logprobs();
        in.draws |= rs.drawsOnDevice();
        in.candidates = Math.max(in.candidates, Math.min(rs.candidates(), vocab));
        if (rs.fullRow()) {
          full[fullRows++] = logitRow;
        }
        if (rs.mask() != null) {
          rs.mask().writeBits(in.mask, logitRow * in.maskBytes, vocab);
        }
        logitRow++;
      }
    }
    in.fullRowIndex = java.util.Arrays.copyOf(full, fullRows);
    return in;
  }

  private static void check(SequenceChunk c, int index, KvCacheConfig kv) {
    int needed = ceilDiv(c.contextLength(), kv.blockSize());
    if (c.blockTable().length < needed) {
      throw new IllegalArgumentException(
          "chunk "
              + index
              + " reaches position "
              + (c.contextLength() - 1)
              + " but its block table has "
              + c.blockTable().length
              + " blocks of "
              + kv.blockSize());
    }
    for (int j = 0; j < needed; j++) {
      int b = c.blockTable()[j];
      if (b < 0 || b >= kv.numBlocks()) {
        throw new IllegalArgumentException(
            "chunk " + index + ": block id " + b + " is outside the pool of " + kv.numBlocks());
      }
    }
  }

  private static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }
}
