package io.llavaserve.engine.training.world;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Multi-turn conversations about one scene: natural questions with one-sentence answers.
 *
 * <p>All the questions the scene supports are gathered by topic (how many, what colour, what shape,
 * is there, how many of a colour, where, left or right); each turn picks a topic at random and then
 * a question from it, so that topics with many variants (six colours) do not crowd out the others,
 * and no question repeats.
 */
final class Conversations {

  static final int MIN_TURNS = 2;
  static final int MAX_TURNS = 5;

  private Conversations() {}

  static List<Turn> conversation(Scene scene, SplittableRandom random) {
    Map<String, List<Turn>> topics = topics(scene);
    int wanted = random.nextInt(MIN_TURNS, MAX_TURNS + 1);
    List<Turn> turns = new ArrayList<>(wanted);
    List<List<Turn>> open = new ArrayList<>(topics.values());
    while (turns.size() < wanted && !open.isEmpty()) {
      int at = random.nextInt(open.size());
      List<Turn> topic = open.get(at);
      turns.add(topic.remove(random.nextInt(topic.size())));
      if (topic.isEmpty()) {
        open.remove(at);
      }
    }
    return List.copyOf(turns);
  }

  /** Every question the scene supports, by topic; "how many" and "is there" are never empty. */
  private static Map<String, List<Turn>> topics(Scene scene) {
    Map<String, List<Turn>> topics = new LinkedHashMap<>();
    int n = scene.shapes().size();
    topics.put(
        "count",
        new ArrayList<>(
            List.of(
                new Turn(
                    "How many shapes are there?",
                    "There " + Phrases.be(n) + " " + Phrases.count(n, "shape", "shapes") + "."))));
    List<Turn> color = new ArrayList<>();
    List<Turn> existence = new ArrayList<>();
    for (ShapeKind kind : ShapeKind.values()) {
      SceneFacts.only(scene, kind)
          .ifPresent(
              s ->
                  color.add(
                      new Turn(
                          "What color is the " + kind.word() + "?",
                          "The " + kind.word() + " is " + s.color().word() + ".")));
      existence.add(new Turn("Is there a " + kind.word() + "?", existence(scene, kind)));
    }
    List<Turn> shape = new ArrayList<>();
    List<Turn> colorCount = new ArrayList<>();
    for (ShapeColor c : ShapeColor.values()) {
      SceneFacts.only(scene, c)
          .ifPresent(
              s ->
                  shape.add(
                      new Turn(
                          "What shape is the " + c.word() + " object?",
                          "The " + c.word() + " object is a " + s.kind().word() + ".")));
      int k = SceneFacts.count(scene, c);
      colorCount.add(
          new Turn(
              "How many " + c.word() + " shapes are there?",
              "There "
                  + Phrases.be(k)
                  + " "
                  + Phrases.count(k, c.word() + " shape", c.word() + " shapes")
                  + "."));
    }
    List<Turn> where = new ArrayList<>();
    for (PlacedShape s : SceneFacts.uniquelyNamed(scene)) {
      where.add(
          new Turn(
              "Where is the " + s.name() + "?",
              "The " + s.name() + " is " + Region.of(scene, s).phrase() + "."));
    }
    List<Turn> leftRight = new ArrayList<>();
    for (PlacedShape[] pair : Questions.positionPairs(scene)) {
      String side = pair[0].centerX() < pair[1].centerX() ? "left" : "right";
      leftRight.add(
          new Turn(
              "Is the "
                  + pair[0].name()
                  + " to the left or to the right of the "
                  + pair[1].name()
                  + "?",
              "The " + pair[0].name() + " is to the " + side + " of the " + pair[1].name() + "."));
    }
    topics.put("color", color);
    topics.put("shape", shape);
    topics.put("existence", existence);
    topics.put("colorCount", colorCount);
    topics.put("where", where);
    topics.put("leftRight", leftRight);
    topics.values().removeIf(List::isEmpty);
    return topics;
  }

  /**
   * "No, there is no circle.", "Yes, there is a red circle.", "Yes, there are two red circles.",
   * "Yes, there are three circles: two red ones and a blue one." Colours in order of first
   * appearance from the left.
   */
  private static String existence(Scene scene, ShapeKind kind) {
    List<PlacedShape> matches =
        SceneFacts.leftToRight(scene).stream().filter(s -> s.kind() == kind).toList();
    if (matches.isEmpty()) {
      return "No, there is no " + kind.word() + ".";
    }
    if (matches.size() == 1) {
      return "Yes, there is " + Phrases.withArticle(matches.get(0)) + ".";
    }
    Map<ShapeColor, Integer> byColor = new LinkedHashMap<>();
    matches.forEach(s -> byColor.merge(s.color(), 1, Integer::sum));
    String total = Phrases.number(matches.size());
    if (byColor.size() == 1) {
      return "Yes, there are "
          + total
          + " "
          + matches.get(0).color().word()
          + " "
          + kind.plural()
          + ".";
    }
    List<String> groups = new ArrayList<>();
    byColor.forEach(
        (c, k) ->
            groups.add(
                k == 1
                    ? c.article() + " " + c.word() + " one"
                    : Phrases.number(k) + " " + c.word() + " ones"));
    return "Yes, there are "
        + total
        + " "
        + kind.plural()
        + ": "
        + Phrases.join(groups, false)
        + ".";
  }
}
