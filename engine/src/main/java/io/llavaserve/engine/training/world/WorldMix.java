package io.llavaserve.engine.training.world;

/**
 * How the training streams depart from the plain world: every share is 0 for the standard recipe,
 * and the held-out evaluation set draws the plain world (or, asked for, the plain world with every
 * scene's fills from the wide colour ranges).
 *
 * @param kindFirstShare how often captions and detailed descriptions name a shape kind first ("a
 *     circle in red") rather than colour first ("a red circle"); questions are unchanged
 * @param monochromeShare how often a scene's shapes all share one colour (drawn uniformly), so that
 *     within the picture only their kinds, sizes and places tell them apart; the questions asked of
 *     it are drawn as for any scene
 * @param inventoryShare how often a stage-2 sample is an inventory ({@link
 *     Instructions#inventory}): the shapes left to right, each kind word followed at once by its
 *     colour word ("circle red, square blue"), so that the token after a kind word is the colour of
 *     that kind's shape
 * @param tallyShare how often a stage-2 sample is a tally ({@link Instructions#tally}): every
 *     kind's (or colour's) word followed at once by how many shapes have it, absent ones included
 * @param kindSweepShare how often a stage-2 sample is a kind sweep: short-answer turns about one
 *     image asking, for each of the four kinds in a random order, whether there is one or how many
 *     there are ("Is there a star in the image?", "How many circles are there?"), so that the same
 *     picture answers differently by the kind named and only the kind word tells the answers apart
 * @param colorSweepShare how often a stage-2 sample is a colour sweep: short-answer turns about one
 *     image asking, for four colours in a random order (every colour the image shows, then absent
 *     ones), whether there is a shape of that colour or how many there are ("Is there a red shape
 *     in the image?", "How many blue shapes are there?")
 * @param positionSweepShare how often a stage-2 sample is a position sweep: short-answer turns
 *     about one image asking, for up to four ordered pairs of its shapes in a random order, whether
 *     the first is to the left or to the right of the second, so that one picture answers both ways
 *     by the shapes named
 * @param repeatedCountShare how often a short-answer attribute-count turn asks about a kind or a
 *     colour that two or more of the image's shapes share, where it has one ({@link
 *     Questions#repeatedCount}), rather than as the held-out set asks (about a present kind or
 *     colour, mostly of one shape, or an absent one)
 * @param questionWeights how often each question type is drawn for a short-answer turn
 * @param wideColorShare how often a scene's fills come from each colour's wide range ({@link
 *     ShapeColor#wideRgb}: the usual named variants of the six colours, such as CSS's darker green
 *     and purple or matplotlib's paler blue) instead of its base with a little jitter
 * @param widePositionShare how often a position sweep's image is drawn at least {@link
 *     #WIDE_ASPECT} times as wide as tall, where LLaVA-NeXT lays its tiles side by side and a
 *     shape's column is the hardest to read, rather than from the size range's every aspect
 */
public record WorldMix(
    double kindFirstShare,
    double monochromeShare,
    double inventoryShare,
    double tallyShare,
    double kindSweepShare,
    double colorSweepShare,
    double positionSweepShare,
    double repeatedCountShare,
    QuestionWeights questionWeights,
    double wideColorShare,
    double widePositionShare) {

  /** Width over height of a wide position sweep's image, at least. */
  public static final int WIDE_ASPECT = 3;

  /** The plain world. */
  public static final WorldMix PLAIN =
      new WorldMix(0, 0, 0, 0, 0, 0, 0, 0, QuestionWeights.UNIFORM, 0, 0);

  /**
   * A mix with base fills only (no wide-colour scenes), whose position sweeps draw their images
   * from the size range as any scene.
   */
  public WorldMix(
      double kindFirstShare,
      double monochromeShare,
      double inventoryShare,
      double tallyShare,
      double kindSweepShare,
      double colorSweepShare,
      double positionSweepShare,
      double repeatedCountShare,
      QuestionWeights questionWeights) {
    this(
        kindFirstShare,
        monochromeShare,
        inventoryShare,
        tallyShare,
        kindSweepShare,
        colorSweepShare,
        positionSweepShare,
        repeatedCountShare,
        questionWeights,
        0,
        0);
  }

  public WorldMix {
    java.util.Objects.requireNonNull(questionWeights, "questionWeights");
    check("kind-first", kindFirstShare);
    check("monochrome", monochromeShare);
    check("inventory", inventoryShare);
    check("tally", tallyShare);
    check("kind-sweep", kindSweepShare);
    check("color-sweep", colorSweepShare);
    check("position-sweep", positionSweepShare);
    check("repeated-count", repeatedCountShare);
    check("wide-colour", wideColorShare);
    check("wide-position", widePositionShare);
    double special =
        inventoryShare + tallyShare + kindSweepShare + colorSweepShare + positionSweepShare;
    if (special > 1) {
      throw new IllegalArgumentException(
          "the inventory, tally, kind-sweep, color-sweep and position-sweep shares must add up to"
              + " at most 1, got "
              + special);
    }
  }

  private static void check(String what, double share) {
    if (!(share >= 0 && share <= 1)) {
      throw new IllegalArgumentException("the " + what + " share must be in [0, 1], got " + share);
    }
  }
}
