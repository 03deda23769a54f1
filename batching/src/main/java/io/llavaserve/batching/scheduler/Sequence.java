package io.llavaserve.batching.scheduler;

import io.llavaserve.batching.events.TokenEvent;
import io.llavaserve.batching.events.TokenStream;
import io.llavaserve.batching.events.Usage;
import io.llavaserve.batching.kvcache.BlockTable;
import io.llavaserve.batching.kvcache.TokenSource;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.batching.request.Priority;
import io.llavaserve.engine.generate.OutputProcessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.ImagePlacement;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.RowOutput;
import io.llavaserve.engine.sampling.RowSampling;
import io.llavaserve.engine.sampling.SampledToken;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A request inside the engine: its expanded prompt, what has been computed and generated, its KV
 * blocks, and its sampling and streaming state. Owned by the engine thread. What the scheduler
 * decides (status, computed count, block table, cached prompt) is set only by the {@link Scheduler}
 * in this package; everyone else reads it.
 */
public final class Sequence implements TokenSource {

  /** Where a sequence is in its life. */
  public enum Status {
    WAITING,
    RUNNING,
    FINISHED
  }

  private final long id;
  private final int choice;
  private Sequence forkSource; // until first admitted: the choice whose prompt blocks it shares
  private final GenerationRequest request;
  private final ExpandedPrompt prompt;
  private final String[] imageDigests;
  private final ImageFeatures[] features;
  private BlockTable blockTable = BlockTable.EMPTY;
  private final OutputProcessor output;
  private final TokenStream stream;
  private int numComputedTokens;
  private int cachedPromptTokens = -1;
  private Status status = Status.WAITING;
  private final long arrivalNanos = System.nanoTime();
  private long firstTokenNanos;

  public Sequence(
      long id,
      GenerationRequest request,
      ExpandedPrompt prompt,
      OutputProcessor output,
      TokenStream stream) {
    this(id, 0, null, request, prompt, output, stream);
  }

  /**
   * Choice {@code choice} of a request for several.
   *
   * @param forkSource the request's choice 0, whose full prompt blocks this one shares at its first
   *     admission; null for choice 0 itself
   */
  public Sequence(
      long id,
      int choice,
      Sequence forkSource,
      GenerationRequest request,
      ExpandedPrompt prompt,
      OutputProcessor output,
      TokenStream stream) {
    if (choice < 0 || choice >= request.n() || (forkSource == null) != (choice == 0)) {
      throw new IllegalArgumentException(
          "choice " + choice + " of " + request.n() + ", fork source " + forkSource);
    }
    this.id = id;
    this.choice = choice;
    this.forkSource = forkSource;
    this.request = request;
    this.prompt = prompt;
    this.output = output;
    this.stream = stream;
    List<PixelValues> images = request.images();
    if (images.size() != prompt.imageCount()) {
      throw new IllegalArgumentException(
          "prompt has " + prompt.imageCount() + " image tokens but " + images.size() + " images");
    }
    this.imageDigests = new String[images.size()];
    for (int i = 0; i < imageDigests.length; i++) {
      imageDigests[i] = images.get(i).digest();
    }
    this.features = new ImageFeatures[images.size()];
  }

  public long id() {
    return id;
  }

  public GenerationRequest request() {
    return request;
  }

  /** Which of its request's choices this sequence samples. */
  public int choice() {
    return choice;
  }

  /**
   * The sequence whose full prompt blocks this one shares when first admitted (its request's choice
   * 0), or null: for choice 0, and once admitted (a later re-admission uses the prefix cache).
   */
  public Sequence forkSource() {
    return forkSource;
  }

  void clearForkSource() {
    forkSource = null;
  }

  public Priority priority() {
    return request.priority();
  }

  public Status status() {
    return status;
  }

  void setStatus(Status status) {
    this.status = status;
  }

  /** The KV blocks held now (a value: the scheduler replaces it at each allocation and commit). */
  public BlockTable blockTable() {
    return blockTable;
  }

  void setBlockTable(BlockTable table) {
    blockTable = table;
  }

  public TokenStream stream() {
    return stream;
  }

  public int promptLength() {
    return prompt.length();
  }

  public int outputLength() {
    return output.outputLength();
  }

  public int[] outputTokens() {
    return output.outputTokens();
  }

  @Override
  public int length() {
    return prompt.length() + output.outputLength();
  }

  @Override
  public int tokenAt(int position) {
    return position < prompt.length()
        ? prompt.tokens()[position]
        : output.outputToken(position - prompt.length());
  }

  @Override
  public String imageDigestAt(int position) {
    int i = position < prompt.length() ? prompt.imageAt(position) : -1;
    return i < 0 ? null : imageDigests[i];
  }

  @Override
  public int imageRowAt(int position) {
    int i = position < prompt.length() ? prompt.imageAt(position) : -1;
    return i < 0 ? 0 : position - prompt.imageStarts()[i];
  }

  /** Positions whose keys and values are in the cache. */
  public int numComputedTokens() {
    return numComputedTokens;
  }

  void setNumComputedTokens(int n) {
    if (n < 0 || n > length()) {
      throw new IllegalArgumentException("computed tokens " + n + " outside [0, " + length() + "]");
    }
    numComputedTokens = n;
  }

  /** Positions still to compute before the next token can be sampled. */
  public int numPendingTokens() {
    return length() - numComputedTokens;
  }

  /** Records the prefix-cache hit of the first admission (later re-admissions don't count). */
  void recordCachedPrompt(int tokens) {
    if (cachedPromptTokens < 0) {
      cachedPromptTokens = Math.min(tokens, prompt.length());
    }
  }

  /** Whether the consumer has fallen {@code maxBacklog} events behind. */
  public boolean isBackpressured(long maxBacklog) {
    return stream.backlog() >= maxBacklog;
  }

  /** Indices of images that overlap positions [from, to) and have no features yet. */
  public List<Integer> imagesMissingFeatures(int from, int to) {
    List<Integer> missing = new ArrayList<>();
    for (int i = 0; i < features.length; i++) {
      int start = prompt.imageStarts()[i];
      if (features[i] == null && start < to && start + prompt.imageRows(i) > from) {
        missing.add(i);
      }
    }
    return missing;
  }

  public PixelValues image(int i) {
    return request.images().get(i);
  }

  public String imageDigest(int i) {
    return imageDigests[i];
  }

  public void setFeatures(int i, ImageFeatures f) {
    features[i] = f;
  }

  /** Token ids of positions [from, to). */
  public int[] tokens(int from, int to) {
    int[] t = new int[to - from];
    for (int p = from; p < to; p++) {
      t[p - from] = tokenAt(p);
    }
    return t;
  }

  /** Image rows that fall in [from, to); every overlapping image must have its features. */
  public List<ImagePlacement> placements(int from, int to) {
    return prompt.placements(
        from,
        to,
        i -> {
          if (features[i] == null) {
            throw new IllegalStateException(
                "image " + i + " of " + request.requestId() + " has no features");
          }
          return features[i];
        });
  }

  /** What the step that produces this sequence's next token must compute for it. */
  public RowSampling nextSampling(int vocabSize) {
    return output.next(vocabSize);
  }

  /**
   * Takes the next token from the step's output for this sequence, streams its text, and says
   * whether the sequence is finished.
   */
  public Optional<FinishReason> append(RowOutput row) {
    OutputProcessor.Appended a = output.append(row);
    if (firstTokenNanos == 0) {
      firstTokenNanos = System.nanoTime();
    }
    SampledToken tok = a.token();
    stream.emit(
        new TokenEvent.Token(
            choice, a.index(), tok.tokenId(), a.text(), tok.logprob(), tok.topLogprobs()));
    return a.finish();
  }

  /** Ends the stream with {@code reason}, releasing any held-back text. */
  public void finish(FinishReason reason, String error) {
    status = Status.FINISHED;
    stream.emit(
        new TokenEvent.Finished(choice, false, reason, usage(), output.finish(reason), error));
  }

  public Usage usage() {
    return new Usage(prompt.length(), Math.max(cachedPromptTokens, 0), output.outputLength());
  }

  /** Nanoseconds from arrival to the first token, or -1 before it. */
  public long timeToFirstTokenNanos() {
    return firstTokenNanos == 0 ? -1 : firstTokenNanos - arrivalNanos;
  }

  public long arrivalNanos() {
    return arrivalNanos;
  }

  @Override
  public String toString() {
    return "Sequence["
        + id
        + " "
        + request.requestId()
        + (request.n() == 1 ? "" : " choice " + choice)
        + " "
        + status
        + " computed "
        + numComputedTokens
        + "/"
        + length()
        + "]";
  }
}
