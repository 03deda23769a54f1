package io.llavaserve.engine.training.world;

/**
 * How the training streams depart from the plain world: both shares are 0 for the standard recipe,
 * and the held-out evaluation set always draws the plain world.
 *
 * @param kindFirstShare how often captions and detailed descriptions name a shape kind first ("a
 *     circle in red") rather than colour first ("a red circle"); questions are unchanged
 * @param monochromeShare how often a scene's shapes all share one colour (drawn uniformly), so that
 *     within the picture only their kinds, sizes and places tell them apart; the questions asked of
 *     it are drawn as for any scene
 */
public record WorldMix(double kindFirstShare, double monochromeShare) {

  /** The plain world. */
  public static final WorldMix PLAIN = new WorldMix(0, 0);

  public WorldMix {
    check("kind-first", kindFirstShare);
    check("monochrome", monochromeShare);
  }

  private static void check(String what, double share) {
    if (!(share >= 0 && share <= 1)) {
      throw new IllegalArgumentException("the " + what + " share must be in [0, 1], got " + share);
    }
  }
}
