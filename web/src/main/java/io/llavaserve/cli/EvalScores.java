package io.llavaserve.cli;

import io.llavaserve.engine.training.world.PlacedShape;
import io.llavaserve.engine.training.world.QuestionType;
import io.llavaserve.engine.training.world.Questions;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.ShapeColor;
import io.llavaserve.engine.training.world.ShapeKind;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One checkpoint's scores on the held-out shapes-world set: exact match per {@link QuestionType}
 * and overall (LLaVA-1.5's short-answer VQA metric), and, kept apart from it, how many of each
 * detailed description's shapes the answer names. Filled by one thread.
 */
final class EvalScores {

  /** A short answer that did not match, for diagnosis. */
  record Wrong(QuestionType type, String question, String expected, String got) {}

  /** Shapes named over shapes shown, summed over the detail samples. */
  record Detail(int samples, int shapes, int named) {
    double percent() {
      return shapes == 0 ? 0 : 100.0 * named / shapes;
    }
  }

  private final Map<QuestionType, int[]> tally = new EnumMap<>(QuestionType.class);

  /** Per type, {questions, correct} for images of 1 to {@link Scene#MAX_SHAPES} shapes. */
  private final Map<QuestionType, int[][]> byShapes = new EnumMap<>(QuestionType.class);

  /** Per type, {questions, correct} for each {@link Lookup}. */
  private final Map<QuestionType, int[][]> byLookup = new EnumMap<>(QuestionType.class);

  /** Per type, {questions, correct} for each {@link Proportion}. */
  private final Map<QuestionType, int[][]> byProportion = new EnumMap<>(QuestionType.class);

  /**
   * Per counting type, {questions, correct} for each expected count 0 to {@link Scene#MAX_SHAPES}.
   */
  private final Map<QuestionType, int[][]> byCount = new EnumMap<>(QuestionType.class);

  /**
   * For {@link QuestionType#ATTRIBUTE_COUNT}, {questions, correct} per expected count and per
   * {@link Lookup}: counting the shapes of a kind and of a colour apart.
   */
  private final Map<Lookup, int[][]> attributeCountByLookup = new EnumMap<>(Lookup.class);

  private final List<Wrong> wrong = new ArrayList<>();
  private int detailSamples;
  private int detailShapes;
  private int detailNamed;

  /** For exact match: lower case, trimmed, without a trailing period. */
  static String normalize(String answer) {
    return Questions.normalizeAnswer(answer);
  }

  static boolean matches(String expected, String got) {
    return normalize(expected).equals(normalize(got));
  }

  /** "red circle" for every shape of the scene, in drawing order (repeats kept). */
  static List<String> shapePhrases(Scene scene) {
    List<String> phrases = new ArrayList<>();
    for (PlacedShape s : scene.shapes()) {
      phrases.add(s.color().word() + " " + s.kind().word());
    }
    return phrases;
  }

  /**
   * What a question finds the shapes it is about by: "What color is the triangle?" by kind, "What
   * shape is the red object?" by colour, "Is there a green star in the image?" by both, "How many
   * shapes are there?" by neither. A model that sees colours and kinds but cannot bind them shows
   * it here: one lookup falls behind the other.
   */
  enum Lookup {
    KIND("by kind"),
    COLOR("by colour"),
    BOTH("by both"),
    NONE("by neither");

    final String title;

    Lookup(String title) {
      this.title = title;
    }

    static Lookup of(String question) {
      String q = " " + question.toLowerCase(Locale.ROOT).replaceAll("[^a-z]+", " ") + " ";
      boolean kind = false;
      for (ShapeKind k : ShapeKind.values()) {
        kind |= q.contains(" " + k.word() + " ") || q.contains(" " + k.plural() + " ");
      }
      boolean color = false;
      for (ShapeColor c : ShapeColor.values()) {
        color |= q.contains(" " + c.word() + " ");
      }
      return kind && color ? BOTH : kind ? KIND : color ? COLOR : NONE;
    }
  }

  /**
   * The image's proportions, width over height, in five bands. LLaVA-NeXT tiles a wide image side
   * by side, so that a shape's column is no longer its place in a row of one tile's patches: a type
   * that needs where a shape is falls with it.
   */
  enum Proportion {
    VERY_TALL("w/h < 1/3", 0, 1.0 / 3),
    TALL("1/3 - 2/3", 1.0 / 3, 2.0 / 3),
    SQUARE("2/3 - 3/2", 2.0 / 3, 1.5),
    WIDE("3/2 - 3", 1.5, 3),
    VERY_WIDE("w/h >= 3", 3, Double.POSITIVE_INFINITY);

    final String title;
    final double from;
    final double to;

    Proportion(String title, double from, double to) {
      this.title = title;
      this.from = from;
      this.to = to;
    }

    static Proportion of(int width, int height) {
      double r = (double) width / height;
      for (Proportion p : values()) {
        if (r >= p.from && r < p.to) {
          return p;
        }
      }
      throw new IllegalArgumentException("no proportion for " + width + " x " + height);
    }
  }

  /**
   * Scores one short answer about {@code scene}: by its number of shapes, by what the question
   * finds them by, by the image's {@link Proportion}, and, for an answer that is a count, by that
   * count.
   */
  void vqa(QuestionType type, Scene scene, String question, String expected, String got) {
    boolean right = matches(expected, got);
    int[] p =
        byProportion
            .computeIfAbsent(type, k -> new int[Proportion.values().length][2])[
            Proportion.of(scene.width(), scene.height()).ordinal()];
    p[0]++;
    p[1] += right ? 1 : 0;
    String answer = normalize(expected);
    if (answer.matches("[0-9]") && Integer.parseInt(answer) <= Scene.MAX_SHAPES) {
      int[] c =
          byCount
              .computeIfAbsent(type, k -> new int[Scene.MAX_SHAPES + 1][2])[
              Integer.parseInt(answer)];
      c[0]++;
      c[1] += right ? 1 : 0;
      if (type == QuestionType.ATTRIBUTE_COUNT) {
        int[] l =
            attributeCountByLookup
                .computeIfAbsent(Lookup.of(question), k -> new int[Scene.MAX_SHAPES + 1][2])[
                Integer.parseInt(answer)];
        l[0]++;
        l[1] += right ? 1 : 0;
      }
    }
    vqa(type, scene.shapes().size(), question, expected, got);
  }

  /** Scores one short answer about an image of {@code shapes} shapes. */
  void vqa(QuestionType type, int shapes, String question, String expected, String got) {
    if (shapes < 1 || shapes > Scene.MAX_SHAPES) {
      throw new IllegalArgumentException("shapes must be 1 to " + Scene.MAX_SHAPES);
    }
    int[] t = byShapes.computeIfAbsent(type, k -> new int[Scene.MAX_SHAPES][2])[shapes - 1];
    int[] l =
        byLookup
            .computeIfAbsent(type, k -> new int[Lookup.values().length][2])[
            Lookup.of(question).ordinal()];
    t[0]++;
    l[0]++;
    if (matches(expected, got)) {
      t[1]++;
      l[1]++;
    }
    vqa(type, question, expected, got);
  }

  /** Scores one short answer. */
  void vqa(QuestionType type, String question, String expected, String got) {
    int[] t = tally.computeIfAbsent(type, k -> new int[2]); // {questions, correct}
    t[0]++;
    if (matches(expected, got)) {
      t[1]++;
    } else {
      wrong.add(new Wrong(type, question, expected, got));
    }
  }

  /**
   * Scores one detailed description: which of the scene's "color shape" phrases it contains, colour
   * first ("red circle") or kind first ("circle in red").
   */
  void detail(List<String> shapePhrases, String got) {
    String answer = got.toLowerCase(Locale.ROOT);
    detailSamples++;
    detailShapes += shapePhrases.size();
    for (String phrase : shapePhrases) {
      String p = phrase.toLowerCase(Locale.ROOT);
      int space = p.indexOf(' ');
      String kindFirst = p.substring(space + 1) + " in " + p.substring(0, space);
      if (answer.contains(p) || answer.contains(kindFirst)) {
        detailNamed++;
      }
    }
  }

  int questions(QuestionType type) {
    int[] t = tally.get(type);
    return t == null ? 0 : t[0];
  }

  /** Exact match of {@code type} in percent; 0 with no questions. */
  double exactMatch(QuestionType type) {
    int[] t = tally.get(type);
    return t == null || t[0] == 0 ? 0 : 100.0 * t[1] / t[0];
  }

  int questions() {
    return tally.values().stream().mapToInt(t -> t[0]).sum();
  }

  /** Exact match over every short answer, in percent. */
  double exactMatch() {
    int n = questions();
    return n == 0 ? 0 : 100.0 * tally.values().stream().mapToInt(t -> t[1]).sum() / n;
  }

  Detail detail() {
    return new Detail(detailSamples, detailShapes, detailNamed);
  }

  /** The short answers that did not match, in the order they were scored. */
  List<Wrong> wrong() {
    return List.copyOf(wrong);
  }

  /**
   * {@code type | n | exact match %}, one row per question type, then overall and (when there were
   * any) the detail row; one score column per checkpoint, headed by its label.
   */
  static String table(List<String> labels, List<EvalScores> columns) {
    if (labels.size() != columns.size() || columns.isEmpty()) {
      throw new IllegalArgumentException("one label per column, at least one column");
    }
    List<String> headers = new ArrayList<>(List.of("type", "n"));
    if (columns.size() == 1) {
      headers.add("exact match %");
    } else {
      labels.forEach(l -> headers.add(l + " exact match %"));
    }
    List<List<String>> rows = new ArrayList<>();
    EvalScores first = columns.get(0);
    for (QuestionType type : QuestionType.values()) {
      List<String> row = new ArrayList<>(List.of(typeName(type), "" + first.questions(type)));
      columns.forEach(c -> row.add(percent(c.exactMatch(type))));
      rows.add(row);
    }
    List<String> overall = new ArrayList<>(List.of("overall", "" + first.questions()));
    columns.forEach(c -> overall.add(percent(c.exactMatch())));
    rows.add(overall);
    if (first.detailSamples > 0) {
      List<String> detail =
          new ArrayList<>(List.of("detail (shapes named %)", "" + first.detailSamples));
      columns.forEach(c -> detail.add(percent(c.detail().percent())));
      rows.add(detail);
    }
    return format(headers, rows);
  }

  /**
   * {@code type | 1 shape | 2 shapes | ...}: exact match % with the question count in brackets, per
   * number of shapes in the image; a type's binding errors show as a fall with more shapes. Only
   * answers scored with their shape count appear.
   */
  String byShapesTable() {
    List<String> headers = new ArrayList<>(List.of("type"));
    for (int n = 1; n <= Scene.MAX_SHAPES; n++) {
      headers.add(n + (n == 1 ? " shape" : " shapes"));
    }
    return cellsTable(headers, byShapes);
  }

  /**
   * {@code type | by kind | by colour | by both | by neither}: exact match % with the question
   * count in brackets, per {@link Lookup}. Only answers scored with their shape count appear.
   */
  String byLookupTable() {
    List<String> headers = new ArrayList<>(List.of("type"));
    for (Lookup l : Lookup.values()) {
      headers.add(l.title);
    }
    return cellsTable(headers, byLookup);
  }

  /**
   * {@code type | w/h < 1/3 | ... | w/h >= 3}: exact match % with the question count in brackets,
   * per {@link Proportion} of the image. Only answers scored with their scene appear.
   */
  String byProportionTable() {
    List<String> headers = new ArrayList<>(List.of("type"));
    for (Proportion p : Proportion.values()) {
      headers.add(p.title);
    }
    return cellsTable(headers, byProportion);
  }

  /**
   * {@code type | 0 | 1 | ... | 4}: exact match % with the question count in brackets, per count
   * the answer should be, for the types answered by a count, then attribute counts apart by what
   * they count ({@code attribute_count by kind}, {@code attribute_count by colour}); a model that
   * sees whether a shape is there but not how many answers 1 where 2 or 3 are asked for.
   */
  String byCountTable() {
    List<String> headers = new ArrayList<>(List.of("type"));
    for (int n = 0; n <= Scene.MAX_SHAPES; n++) {
      headers.add("answer " + n);
    }
    Map<String, int[][]> rows = new LinkedHashMap<>();
    byCount.forEach((type, counts) -> rows.put(typeName(type), counts));
    attributeCountByLookup.forEach(
        (lookup, counts) ->
            rows.put(typeName(QuestionType.ATTRIBUTE_COUNT) + " " + lookup.title, counts));
    return namedCellsTable(headers, rows);
  }

  /** One row per type of {@code cells}: exact match % with the question count in brackets. */
  private static String cellsTable(List<String> headers, Map<QuestionType, int[][]> cells) {
    Map<String, int[][]> rows = new LinkedHashMap<>();
    cells.forEach((type, counts) -> rows.put(typeName(type), counts));
    return namedCellsTable(headers, rows);
  }

  /** One row per entry of {@code cells}, named by its key: exact match % and question count. */
  private static String namedCellsTable(List<String> headers, Map<String, int[][]> cells) {
    List<List<String>> rows = new ArrayList<>();
    cells.forEach(
        (name, counts) -> {
          List<String> row = new ArrayList<>(List.of(name));
          for (int[] t : counts) {
            row.add(t[0] == 0 ? "-" : percent(100.0 * t[1] / t[0]) + " (" + t[0] + ")");
          }
          rows.add(row);
        });
    return format(headers, rows);
  }

  static String typeName(QuestionType type) {
    return type.name().toLowerCase(Locale.ROOT);
  }

  private static String percent(double p) {
    return String.format(Locale.ROOT, "%.1f", p);
  }

  /** Left-aligned first column, right-aligned numbers, {@code " | "} between columns. */
  private static String format(List<String> headers, List<List<String>> rows) {
    int[] width = new int[headers.size()];
    for (int c = 0; c < width.length; c++) {
      width[c] = headers.get(c).length();
      for (List<String> row : rows) {
        width[c] = Math.max(width[c], row.get(c).length());
      }
    }
    StringBuilder sb = new StringBuilder();
    line(sb, headers, width);
    for (int c = 0; c < width.length; c++) {
      sb.append(c == 0 ? "" : "-|-").append("-".repeat(width[c]));
    }
    sb.append('\n');
    rows.forEach(r -> line(sb, r, width));
    return sb.toString();
  }

  private static void line(StringBuilder sb, List<String> cells, int[] width) {
    for (int c = 0; c < width.length; c++) {
      String cell = cells.get(c);
      String pad = " ".repeat(width[c] - cell.length());
      sb.append(c == 0 ? cell + pad : " | " + pad + cell);
    }
    sb.append('\n');
  }
}
