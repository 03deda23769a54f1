package io.llavaserve.engine.training.world;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Short statements about a scene that any scene can be judged against: "a red circle", "a blue
 * square on the left", "three shapes", "two green shapes", "no stars", "a red circle left of a blue
 * square". They are the text side of the CLIP stage's fact objective, where every image of a batch
 * is scored against every fact of the batch (SigLIP's pairwise sigmoid loss, with many true facts
 * per image instead of one caption).
 *
 * <p>One caption per image lets a tower win the contrastive game of a 32-image batch on colours
 * alone. A fact is true or false of every image on its own, so a batch of facts asks directly for
 * what the questions later ask: which colour has which shape (binding), where, how many, and which
 * is left of which. Each scene contributes its true facts and near misses that are false of it by
 * one word (another colour, shape, region or number).
 */
public final class Facts {

  /** Whether a fact holds of a scene; a statement with an ambiguous referent is undecided. */
  public enum Truth {
    TRUE,
    FALSE,
    UNDECIDED
  }

  /** A statement and its judge. */
  public sealed interface Fact {
    /** The statement as the text encoder reads it. */
    String text();

    /** Whether it holds of {@code scene}. */
    Truth of(Scene scene);
  }

  /** "a red circle": some shape has this colour and kind. */
  public record Has(ShapeColor color, ShapeKind kind) implements Fact {
    @Override
    public String text() {
      return color.article() + " " + color.word() + " " + kind.word();
    }

    @Override
    public Truth of(Scene scene) {
      return truth(SceneFacts.count(scene, color, kind) > 0);
    }
  }

  /** "a red circle on the left": some shape of this colour and kind has its centre there. */
  public record InRegion(ShapeColor color, ShapeKind kind, Region region) implements Fact {
    @Override
    public String text() {
      return color.article() + " " + color.word() + " " + kind.word() + " " + region.phrase();
    }

    @Override
    public Truth of(Scene scene) {
      return truth(
          scene.shapes().stream()
              .anyMatch(
                  s -> s.color() == color && s.kind() == kind && Region.of(scene, s) == region));
    }
  }

  /** "three shapes": exactly this many shapes. */
  public record Count(int n) implements Fact {
    @Override
    public String text() {
      return Phrases.count(n, "shape", "shapes");
    }

    @Override
    public Truth of(Scene scene) {
      return truth(scene.shapes().size() == n);
    }
  }

  /** "two red shapes", "no red shapes": exactly this many shapes of the colour. */
  public record ColorCount(ShapeColor color, int n) implements Fact {
    @Override
    public String text() {
      return Phrases.count(n, color.word() + " shape", color.word() + " shapes");
    }

    @Override
    public Truth of(Scene scene) {
      return truth(SceneFacts.count(scene, color) == n);
    }
  }

  /** "two circles", "no stars": exactly this many shapes of the kind. */
  public record KindCount(ShapeKind kind, int n) implements Fact {
    @Override
    public String text() {
      return Phrases.count(n, kind.word(), kind.plural());
    }

    @Override
    public Truth of(Scene scene) {
      return truth(SceneFacts.count(scene, kind) == n);
    }
  }

  /**
   * "a red circle left of a blue square": both shapes appear once and the first one's centre is
   * left of the second's. False when either is missing; undecided when either appears more than
   * once or their centres are closer than the position questions allow.
   */
  public record LeftOf(ShapeColor color, ShapeKind kind, ShapeColor otherColor, ShapeKind otherKind)
      implements Fact {
    @Override
    public String text() {
      return new Has(color, kind).text() + " left of " + new Has(otherColor, otherKind).text();
    }

    @Override
    public Truth of(Scene scene) {
      int a = SceneFacts.count(scene, color, kind);
      int b = SceneFacts.count(scene, otherColor, otherKind);
      if (a == 0 || b == 0) {
        return Truth.FALSE;
      }
      if (a > 1 || b > 1) {
        return Truth.UNDECIDED;
      }
      double ax = find(scene, color, kind).centerX();
      double bx = find(scene, otherColor, otherKind).centerX();
      if (Math.abs(ax - bx) < Questions.MIN_POSITION_GAP * scene.width()) {
        return Truth.UNDECIDED;
      }
      return truth(ax < bx);
    }
  }

  private static final ShapeColor[] COLORS = ShapeColor.values();
  private static final ShapeKind[] KINDS = ShapeKind.values();
  private static final Region[] REGIONS = Region.values();

  private Facts() {}

  /**
   * Facts drawn for {@code scene}: for every shape that it is there and where; the number of
   * shapes, of one colour and of one kind; both orders of up to two pairs of shapes; and one near
   * miss of each kind, false of the scene. Duplicates removed, in drawing order.
   */
  public static List<Fact> about(Scene scene, SplittableRandom random) {
    Map<String, Fact> out = new LinkedHashMap<>();
    List<PlacedShape> shapes = scene.shapes();
    for (PlacedShape s : shapes) {
      put(out, new Has(s.color(), s.kind()));
      put(out, new InRegion(s.color(), s.kind(), Region.of(scene, s)));
    }
    int n = shapes.size();
    put(out, new Count(n));
    PlacedShape pick = shapes.get(random.nextInt(n));
    put(out, new ColorCount(pick.color(), SceneFacts.count(scene, pick.color())));
    ShapeKind kind = KINDS[random.nextInt(KINDS.length)];
    put(out, new KindCount(kind, SceneFacts.count(scene, kind)));
    List<PlacedShape> unique = SceneFacts.uniquelyNamed(scene);
    for (int p = 0; p < 2 && unique.size() >= 2; p++) {
      int i = random.nextInt(unique.size());
      int j = (i + 1 + random.nextInt(unique.size() - 1)) % unique.size();
      PlacedShape a = unique.get(i);
      PlacedShape b = unique.get(j);
      put(out, new LeftOf(a.color(), a.kind(), b.color(), b.kind()));
      put(out, new LeftOf(b.color(), b.kind(), a.color(), a.kind()));
    }
    // Near misses: one word changed, each false of the scene (redrawn until it is).
    PlacedShape s = shapes.get(random.nextInt(n));
    putFalse(out, scene, () -> new Has(HardNegatives.other(COLORS, s.color(), random), s.kind()));
    putFalse(out, scene, () -> new Has(s.color(), HardNegatives.other(KINDS, s.kind(), random)));
    putFalse(
        out,
        scene,
        () ->
            new InRegion(
                s.color(), s.kind(), HardNegatives.other(REGIONS, Region.of(scene, s), random)));
    putFalse(out, scene, () -> new Count(1 + random.nextInt(Scene.MAX_SHAPES)));
    putFalse(out, scene, () -> new ColorCount(s.color(), random.nextInt(Scene.MAX_SHAPES + 1)));
    return List.copyOf(out.values());
  }

  /** Every fact there is: the CLIP stage draws from these, and the vocabulary must hold them. */
  public static List<Fact> every() {
    List<Fact> out = new java.util.ArrayList<>();
    for (ShapeColor c : COLORS) {
      for (ShapeKind k : KINDS) {
        out.add(new Has(c, k));
        for (Region r : REGIONS) {
          out.add(new InRegion(c, k, r));
        }
        for (ShapeColor c2 : COLORS) {
          for (ShapeKind k2 : KINDS) {
            if (c2 != c || k2 != k) {
              out.add(new LeftOf(c, k, c2, k2));
            }
          }
        }
      }
    }
    for (int n = 0; n <= Scene.MAX_SHAPES; n++) {
      if (n > 0) {
        out.add(new Count(n));
      }
      for (ShapeColor c : COLORS) {
        out.add(new ColorCount(c, n));
      }
      for (ShapeKind k : KINDS) {
        out.add(new KindCount(k, n));
      }
    }
    return out;
  }

  private static void put(Map<String, Fact> out, Fact fact) {
    out.putIfAbsent(fact.text(), fact);
  }

  private static void putFalse(
      Map<String, Fact> out, Scene scene, java.util.function.Supplier<Fact> draw) {
    for (int t = 0; t < 20; t++) {
      Fact f = draw.get();
      if (f.of(scene) == Truth.FALSE) {
        put(out, f);
        return;
      }
    }
  }

  private static PlacedShape find(Scene scene, ShapeColor color, ShapeKind kind) {
    return scene.shapes().stream()
        .filter(s -> s.color() == color && s.kind() == kind)
        .findFirst()
        .orElseThrow();
  }

  private static Truth truth(boolean holds) {
    return holds ? Truth.TRUE : Truth.FALSE;
  }
}
