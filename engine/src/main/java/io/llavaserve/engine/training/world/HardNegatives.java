package io.llavaserve.engine.training.world;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Captions that are false of a scene by one small edit, for contrastive training with hard
 * negatives (NegCLIP). With in-batch negatives alone, a tower can match a caption by the set of
 * colours it mentions; a negative that differs only in which shape has which colour, in the order
 * of two shapes or in their number forces it to encode binding, position and count, which is what
 * the questions later ask.
 *
 * <p>Each negative is the caption of the scene's shapes (left to right) after one edit: a shape
 * recoloured, a shape of another kind, the colours of two shapes exchanged, two shapes exchanged in
 * place, or a shape removed or added. An edit that leaves the list of shape names unchanged (two
 * identical shapes exchanged) is drawn again, so every negative names a different scene.
 */
public final class HardNegatives {

  /** Tries for each negative before giving up on finding one not already drawn. */
  private static final int TRIES = 50;

  private static final ShapeKind[] KINDS = ShapeKind.values();
  private static final ShapeColor[] COLORS = ShapeColor.values();

  private HardNegatives() {}

  /**
   * {@code count} distinct captions, each false of {@code scene}: one edit of its left-to-right
   * list of shapes, phrased as {@link Instructions#caption(Scene, SplittableRandom)} phrases it.
   */
  public static List<String> captions(Scene scene, int count, SplittableRandom random) {
    List<PlacedShape> truth = SceneFacts.leftToRight(scene);
    List<String> truthNames = names(truth);
    List<List<String>> drawn = new ArrayList<>();
    List<String> captions = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      List<PlacedShape> edited = null;
      for (int t = 0; t < TRIES; t++) {
        List<PlacedShape> candidate = edit(truth, random);
        List<String> names = names(candidate);
        if (!names.equals(truthNames) && !drawn.contains(names)) {
          edited = candidate;
          drawn.add(names);
          break;
        }
      }
      if (edited == null) {
        edited = recolor(truth, random); // always differs from the truth
      }
      captions.add(Instructions.caption(edited, random));
    }
    return captions;
  }

  private static List<String> names(List<PlacedShape> shapes) {
    return shapes.stream().map(PlacedShape::name).toList();
  }

  private static List<PlacedShape> edit(List<PlacedShape> shapes, SplittableRandom random) {
    int n = shapes.size();
    return switch (random.nextInt(6)) {
      case 0 -> recolor(shapes, random);
      case 1 -> {
        List<PlacedShape> out = new ArrayList<>(shapes);
        int i = random.nextInt(n);
        PlacedShape s = out.get(i);
        out.set(i, with(s, other(KINDS, s.kind(), random), s.color()));
        yield out;
      }
      case 2 -> {
        if (n < 2) {
          yield recolor(shapes, random);
        }
        List<PlacedShape> out = new ArrayList<>(shapes);
        int i = random.nextInt(n);
        int j = (i + 1 + random.nextInt(n - 1)) % n;
        out.set(i, with(shapes.get(i), shapes.get(i).kind(), shapes.get(j).color()));
        out.set(j, with(shapes.get(j), shapes.get(j).kind(), shapes.get(i).color()));
        yield out;
      }
      case 3 -> {
        if (n < 2) {
          yield recolor(shapes, random);
        }
        List<PlacedShape> out = new ArrayList<>(shapes);
        int i = random.nextInt(n - 1);
        out.set(i, shapes.get(i + 1));
        out.set(i + 1, shapes.get(i));
        yield out;
      }
      case 4 -> {
        if (n < 2) {
          yield added(shapes, random);
        }
        List<PlacedShape> out = new ArrayList<>(shapes);
        out.remove(random.nextInt(n));
        yield out;
      }
      default -> n < Scene.MAX_SHAPES ? added(shapes, random) : recolor(shapes, random);
    };
  }

  private static List<PlacedShape> recolor(List<PlacedShape> shapes, SplittableRandom random) {
    List<PlacedShape> out = new ArrayList<>(shapes);
    int i = random.nextInt(out.size());
    PlacedShape s = out.get(i);
    out.set(i, with(s, s.kind(), other(COLORS, s.color(), random)));
    return out;
  }

  private static List<PlacedShape> added(List<PlacedShape> shapes, SplittableRandom random) {
    List<PlacedShape> out = new ArrayList<>(shapes);
    PlacedShape model = shapes.get(0);
    PlacedShape extra =
        with(model, KINDS[random.nextInt(KINDS.length)], COLORS[random.nextInt(COLORS.length)]);
    out.add(random.nextInt(out.size() + 1), extra);
    return out;
  }

  private static PlacedShape with(PlacedShape s, ShapeKind kind, ShapeColor color) {
    return new PlacedShape(kind, color, s.rgb(), s.centerX(), s.centerY(), s.size());
  }

  /** A value of {@code values} other than {@code not}, uniformly. */
  static <T> T other(T[] values, T not, SplittableRandom random) {
    T pick;
    do {
      pick = values[random.nextInt(values.length)];
    } while (pick == not);
    return pick;
  }
}
