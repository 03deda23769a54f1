package io.llavaserve.engine.generate;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.RowSampling;
import io.llavaserve.engine.sampling.SampledToken;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.sampling.constraint.GrammarMatchers;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Generates one answer at a time, streaming its text: the engine without a scheduler, for the
 * command line and for checking the serving core against. Owns the whole KV pool while it runs.
 */
public final class Generator {

  /** Prompt positions computed per step while prefilling. */
  public static final int PREFILL_CHUNK = 512;

  private final LlavaModel model;
  private final GrammarMatchers grammars;

  public Generator(LlavaModel model) {
    this.model = model;
    this.grammars = new GrammarMatchers(model.tokenizer(), model.tokenizer().eosId());
  }

  /**
   * Runs the prompt (with one image token per image in {@code promptIds}), then samples until a
   * stop, streaming emitted text to {@code onText}.
   */
  public GenerationResult generate(
      int[] promptIds, List<PixelValues> images, SamplingParams params, Consumer<String> onText) {
    ModelRunner runner = model.runner();
    KvCacheConfig kv = runner.kvCache();
    int imageToken = model.config().imageTokenIndex();
    if (ExpandedPrompt.imageTokens(promptIds, imageToken) != images.size()) {
      throw new IllegalArgumentException(
          "prompt has "
              + ExpandedPrompt.imageTokens(promptIds, imageToken)
              + " image tokens but "
              + images.size()
              + " images were given");
    }
    ExpandedPrompt prompt = model.expand(promptIds, images);
    int maxLen = (int) Math.min(kv.capacityTokens(), model.config().text().maxContext());
    if (prompt.length() >= maxLen) {
      throw new IllegalArgumentException(
          "prompt is "
              + prompt.length()
              + " positions; the model and KV cache allow "
              + (maxLen - 1));
    }
    int[] table = new int[kv.numBlocks()];
    for (int i = 0; i < table.length; i++) {
      table[i] = i;
    }

    long t0 = System.nanoTime();
    List<ImageFeatures> features = runner.encodeImages(images);
    long t1 = System.nanoTime();

    int vocab = runner.vocabSize();
    OutputProcessor output =
        new OutputProcessor(
            params.withMoreEos(model.moreEosTokenIds()),
            prompt.tokens(),
            model.tokenizer().eosId(),
            maxLen,
            model.tokenizer().newDetokenizer(params.skipSpecialTokens()),
            grammars);
    StepOutput out = null;
    for (int from = 0; from < prompt.length(); from += PREFILL_CHUNK) {
      int to = Math.min(prompt.length(), from + PREFILL_CHUNK);
      SequenceChunk chunk =
          new SequenceChunk(
              prompt.slice(from, to),
              from,
              table,
              prompt.placements(from, to, features),
              to == prompt.length() ? output.next(vocab) : RowSampling.CANDIDATES);
      out = runner.execute(ScheduledBatch.of(List.of(chunk)));
    }

    StringBuilder text = new StringBuilder();
    List<SampledToken> tokens = new ArrayList<>();
    FinishReason reason;
    int position = prompt.length();
    long t2 = 0;
    while (true) {
      OutputProcessor.Appended step = output.append(out.rows().get(0));
      tokens.add(step.token());
      if (t2 == 0) {
        t2 = System.nanoTime();
      }
      emit(step.text(), text, onText);
      if (step.finish().isPresent()) {
        reason = step.finish().get();
        break;
      }
      SequenceChunk next =
          new SequenceChunk(
              new int[] {step.token().tokenId()}, position, table, List.of(), output.next(vocab));
      out = runner.execute(ScheduledBatch.of(List.of(next)));
      position++;
    }
    emit(output.finish(reason), text, onText);
    long t3 = System.nanoTime();
    return new GenerationResult(
        text.toString(), tokens, reason, prompt.length(), t1 - t0, t2 - t1, t3 - t2);
  }

  private static void emit(String piece, StringBuilder text, Consumer<String> onText) {
    if (!piece.isEmpty()) {
      text.append(piece);
      onText.accept(piece);
    }
  }
}
