package io.llavaserve.engine.training.world;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.function.BiFunction;

/**
 * Endless training streams of the shapes world, and a held-out evaluation set.
 *
 * <p>Stage 1 ({@link #caption()}) pairs an image with a brief caption; stage 2 ({@link
 * #instruction()}) mixes short-answer VQA (55%) with conversations, detailed descriptions and
 * reasoning (15% each), as LLaVA-1.5 mixes its instruction data.
 *
 * <p>Deterministic in the seed: each sample draws from its own {@link SplittableRandom#split()} of
 * the stream, so the same seed and the same sequence of calls give the same samples. One thread at
 * a time. The evaluation set draws from the seed mixed with {@link #EVALUATION_SALT}, so it is held
 * out from the training stream of the same seed (and of any seed but {@code seed ^
 * EVALUATION_SALT}).
 */
public final class WorldDatasets {

  static final double VQA_SHARE = 0.55;
  static final double CONVERSATION_SHARE = 0.15;
  static final double DETAIL_SHARE = 0.15;

  /** Most short-answer turns in one VQA sample, all about the same image. */
  static final int MAX_VQA_TURNS = 4;

  /** Scenes tried for a question type before giving up; the rarest (POSITION) fits 3 in 5. */
  static final int MAX_SCENES_PER_QUESTION = 10_000;

  /** Tries to find each further, different, question for a multi-turn VQA sample. */
  private static final int TRIES_PER_EXTRA_TURN = 20;

  static final long EVALUATION_SALT = 0x6C6C617661457661L;

  private static final QuestionType[] TYPES = QuestionType.values();

  private final SplittableRandom random;
  private final SceneGenerator scenes;
  private final double kindFirstShare;
  private final double inventoryShare;
  private final double tallyShare;
  private final double kindSweepShare;
  private final double colorSweepShare;
  private final double positionSweepShare;
  private final double widePositionShare;
  private final SizeRange sizes;
  private final double repeatedCountShare;
  private final QuestionWeights questionWeights;

  public WorldDatasets(long seed, SizeRange sizes) {
    this(seed, sizes, WorldMix.PLAIN);
  }

  /**
   * Streams departing from the plain world by {@code mix}: captions and detailed descriptions name
   * each shape kind first ("a circle in red") with probability {@link WorldMix#kindFirstShare()},
   * scenes are of one colour with probability {@link WorldMix#monochromeShare()}, and a stage-2
   * sample is an inventory ({@link Instructions#inventory}) with probability {@link
   * WorldMix#inventoryShare()} and a tally ({@link Instructions#tally}) with probability {@link
   * WorldMix#tallyShare()}.
   */
  public WorldDatasets(long seed, SizeRange sizes, WorldMix mix) {
    this.random = new SplittableRandom(seed);
    this.scenes = new SceneGenerator(sizes, mix.monochromeShare(), mix.wideColorShare());
    this.kindFirstShare = mix.kindFirstShare();
    this.inventoryShare = mix.inventoryShare();
    this.tallyShare = mix.tallyShare();
    this.kindSweepShare = mix.kindSweepShare();
    this.colorSweepShare = mix.colorSweepShare();
    this.positionSweepShare = mix.positionSweepShare();
    this.widePositionShare = mix.widePositionShare();
    this.sizes = sizes;
    this.repeatedCountShare = mix.repeatedCountShare();
    this.questionWeights = mix.questionWeights();
  }

  /** Stage 1: a brief-caption instruction and the caption. */
  public Sample caption() {
    SplittableRandom r = random.split();
    Scene scene = scenes.next(r);
    Turn turn =
        new Turn(
            Phrases.pick(Instructions.BRIEF_PROMPTS, r),
            Instructions.caption(scene, kindFirstShare, r));
    return new Sample(scene, SampleKind.CAPTION, null, List.of(turn));
  }

  /** Stage 2: VQA 55% (one to four turns), conversation, detail and reasoning 15% each. */
  public Sample instruction() {
    SplittableRandom r = random.split();
    // Drawn only when inventories are asked for, so the plain stream stays as it was.
    if (inventoryShare > 0 && r.nextDouble() < inventoryShare) {
      Scene scene = scenes.next(r);
      return new Sample(
          scene, SampleKind.INVENTORY, null, List.of(Instructions.inventory(scene, r)));
    }
    // The same for tallies; the draw is conditional on not being an inventory.
    if (tallyShare > 0 && r.nextDouble() < tallyShare / (1 - inventoryShare)) {
      Scene scene = scenes.next(r);
      return new Sample(scene, SampleKind.TALLY, null, List.of(Instructions.tally(scene, r)));
    }
    // The same for kind sweeps, conditional on being neither of the two.
    if (kindSweepShare > 0 && r.nextDouble() < kindSweepShare / (1 - inventoryShare - tallyShare)) {
      return kindSweep(scenes.next(r), r);
    }
    // And for colour sweeps, conditional on being none of the three.
    if (colorSweepShare > 0
        && r.nextDouble() < colorSweepShare / (1 - inventoryShare - tallyShare - kindSweepShare)) {
      return colorSweep(scenes.next(r), r);
    }
    // And for position sweeps, conditional on being none of the four.
    if (positionSweepShare > 0
        && r.nextDouble()
            < positionSweepShare
                / (1 - inventoryShare - tallyShare - kindSweepShare - colorSweepShare)) {
      return positionSweep(r);
    }
    double u = r.nextDouble();
    if (u < VQA_SHARE) {
      QuestionType type = questionWeights.draw(r);
      return vqa(type, r.nextInt(1, MAX_VQA_TURNS + 1), r);
    }
    Scene scene = scenes.next(r);
    if (u < VQA_SHARE + CONVERSATION_SHARE) {
      return new Sample(scene, SampleKind.CONVERSATION, null, Instructions.conversation(scene, r));
    }
    if (u < VQA_SHARE + CONVERSATION_SHARE + DETAIL_SHARE) {
      return new Sample(
          scene, SampleKind.DETAIL, null, List.of(Instructions.detail(scene, kindFirstShare, r)));
    }
    return new Sample(scene, SampleKind.REASONING, null, List.of(Instructions.reasoning(scene, r)));
  }

  /**
   * Four short-answer turns about {@code scene}, one per kind in a random order, each asking at
   * even odds whether there is one or how many there are.
   */
  static Sample kindSweep(Scene scene, SplittableRandom r) {
    List<ShapeKind> kinds = new ArrayList<>(List.of(ShapeKind.values()));
    Phrases.shuffle(kinds, r);
    return sweep(scene, kinds, Questions::kindExistence, Questions::kindCount, r);
  }

  /** Colours a colour sweep asks about. */
  static final int COLOR_SWEEP_TURNS = 4;

  /**
   * Four short-answer turns about {@code scene}, one per colour in a random order: every colour the
   * scene shows (at most four shapes, so at most four colours) and absent ones drawn at random for
   * the rest, each asking at even odds whether there is a shape of that colour or how many.
   */
  static Sample colorSweep(Scene scene, SplittableRandom r) {
    List<ShapeColor> present = new ArrayList<>();
    List<ShapeColor> absent = new ArrayList<>();
    for (ShapeColor color : ShapeColor.values()) {
      (SceneFacts.count(scene, color) > 0 ? present : absent).add(color);
    }
    Phrases.shuffle(absent, r);
    List<ShapeColor> asked = new ArrayList<>(present);
    asked.addAll(absent.subList(0, Math.max(0, COLOR_SWEEP_TURNS - present.size())));
    Phrases.shuffle(asked, r);
    return sweep(scene, asked, Questions::colorExistence, Questions::colorCount, r);
  }

  /** Most pairs a position sweep asks about. */
  static final int POSITION_SWEEP_TURNS = 4;

  /**
   * Up to four short-answer turns about the first scene that has a pair to call left or right, one
   * per ordered pair of its uniquely named shapes far enough apart, drawn at random without
   * repeating a pair (a pair may be asked both ways round, "left" one way and "right" the other).
   */
  Sample positionSweep(SplittableRandom r) {
    boolean wide =
        widePositionShare > 0
            && sizes.max() >= WorldMix.WIDE_ASPECT * sizes.min()
            && r.nextDouble() < widePositionShare;
    for (int attempt = 0; attempt < MAX_SCENES_PER_QUESTION; attempt++) {
      Scene scene = wide ? wideScene(r) : scenes.next(r);
      List<PlacedShape[]> pairs = new ArrayList<>(Questions.positionPairs(scene));
      if (pairs.isEmpty()) {
        continue;
      }
      Phrases.shuffle(pairs, r);
      List<Turn> turns = new ArrayList<>();
      for (PlacedShape[] pair : pairs.subList(0, Math.min(POSITION_SWEEP_TURNS, pairs.size()))) {
        turns.add(Questions.position(pair[0], pair[1]));
      }
      return new Sample(scene, SampleKind.VQA, QuestionType.POSITION, turns);
    }
    throw new IllegalStateException(
        "no scene in " + MAX_SCENES_PER_QUESTION + " supports a position question");
  }

  /**
   * A scene at least {@link WorldMix#WIDE_ASPECT} times as wide as tall within the size range: the
   * height uniform up to a third of the largest side, then the width uniform from three times it.
   */
  private Scene wideScene(SplittableRandom r) {
    int height = r.nextInt(sizes.min(), sizes.max() / WorldMix.WIDE_ASPECT + 1);
    int width = r.nextInt(WorldMix.WIDE_ASPECT * height, sizes.max() + 1);
    return scenes.next(width, height, r);
  }

  /**
   * One short-answer turn about {@code scene} per item, in order, each asking at even odds whether
   * there is one ({@code existence}) or how many ({@code count}).
   */
  private static <T> Sample sweep(
      Scene scene,
      List<T> items,
      BiFunction<Scene, T, Turn> existence,
      BiFunction<Scene, T, Turn> count,
      SplittableRandom r) {
    List<Turn> turns = new ArrayList<>();
    QuestionType first = null;
    for (T item : items) {
      boolean asksExistence = r.nextBoolean();
      turns.add((asksExistence ? existence : count).apply(scene, item));
      if (first == null) {
        first = asksExistence ? QuestionType.EXISTENCE : QuestionType.ATTRIBUTE_COUNT;
      }
    }
    return new Sample(scene, SampleKind.VQA, first, turns);
  }

  /**
   * A question of {@code type} about {@code scene}, as {@link Questions#ask} asks it, but for an
   * attribute count about a kind or colour two or more shapes share with probability {@link
   * WorldMix#repeatedCountShare()} where the scene has one.
   */
  private Optional<Turn> ask(Scene scene, QuestionType type, SplittableRandom r) {
    // Drawn only when repeated counts are asked for, so that other streams stay as they were.
    if (type == QuestionType.ATTRIBUTE_COUNT
        && repeatedCountShare > 0
        && r.nextDouble() < repeatedCountShare) {
      Optional<Turn> repeated = Questions.repeatedCount(scene, r);
      if (repeated.isPresent()) {
        return repeated;
      }
    }
    return Questions.ask(scene, type, r);
  }

  /** One short-answer turn of {@code type}, on the first scene that can be asked it. */
  public Sample vqa(QuestionType type) {
    return vqa(type, 1, random.split());
  }

  /**
   * {@code perType} single-turn VQA samples of every {@link QuestionType}, in declaration order,
   * then {@code perType} DETAIL samples; the same for the same seed, and apart from the training
   * stream of that seed.
   */
  public static List<Sample> evaluationSet(long seed, int perType, SizeRange sizes) {
    return evaluationSet(seed, perType, sizes, false);
  }

  /**
   * As {@link #evaluationSet(long, int, SizeRange)}, with every scene's fills drawn from the wide
   * colour ranges ({@link ShapeColor#wideRgb}) when {@code wideColors}: the same questions asked of
   * pictures whose colours are not the training world's base fills.
   */
  public static List<Sample> evaluationSet(
      long seed, int perType, SizeRange sizes, boolean wideColors) {
    if (perType < 0) {
      throw new IllegalArgumentException("perType must not be negative, got " + perType);
    }
    WorldDatasets held =
        new WorldDatasets(
            seed ^ EVALUATION_SALT,
            sizes,
            wideColors
                ? new WorldMix(0, 0, 0, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM, 1, 0)
                : WorldMix.PLAIN);
    List<Sample> samples = new ArrayList<>((TYPES.length + 1) * perType);
    for (QuestionType type : TYPES) {
      for (int i = 0; i < perType; i++) {
        samples.add(held.vqa(type));
      }
    }
    for (int i = 0; i < perType; i++) {
      SplittableRandom r = held.random.split();
      Scene scene = held.scenes.next(r);
      samples.add(
          new Sample(scene, SampleKind.DETAIL, null, List.of(Instructions.detail(scene, r))));
    }
    return samples;
  }

  /**
   * A first turn of {@code type} on the first scene that supports it, then up to {@code turns - 1}
   * further turns of types drawn by the mix's question weights, skipping repeated questions.
   */
  private Sample vqa(QuestionType type, int turns, SplittableRandom r) {
    for (int attempt = 0; attempt < MAX_SCENES_PER_QUESTION; attempt++) {
      Scene scene = scenes.next(r);
      Optional<Turn> first = ask(scene, type, r);
      if (first.isEmpty()) {
        continue;
      }
      List<Turn> asked = new ArrayList<>(List.of(first.get()));
      for (int t = 1; t < turns; t++) {
        for (int tries = 0; tries < TRIES_PER_EXTRA_TURN; tries++) {
          Optional<Turn> next = ask(scene, questionWeights.draw(r), r);
          if (next.isPresent()
              && asked.stream().noneMatch(a -> a.question().equals(next.get().question()))) {
            asked.add(next.get());
            break;
          }
        }
      }
      return new Sample(scene, SampleKind.VQA, type, asked);
    }
    throw new IllegalStateException(
        "no scene in " + MAX_SCENES_PER_QUESTION + " supports a " + type + " question");
  }
}
