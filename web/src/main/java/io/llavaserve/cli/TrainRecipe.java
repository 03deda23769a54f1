package io.llavaserve.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The runs that made the built-in model, in order, as one command: each phase is a {@code train}
 * run of its own into a folder under the recipe's folder, started from the one before it. A line in
 * {@code DIR/recipe-done.txt} marks each phase that ended; started again, the recipe skips those
 * and the stopped phase resumes from its own saved state.
 */
final class TrainRecipe {

  /** The file under the recipe's folder that lists the phases done, one line each. */
  static final String DONE = "recipe-done.txt";

  /** Folder of the last phase, whose {@code final} is the built-in model. */
  static final String LAST = "next6";

  /**
   * The any-resolution grid of the LLaVA-NeXT phases, in tiles of the tower's side (height x
   * width): one tile, and two, three, four and six in a row or a column.
   */
  private static final int[][] GRID = {
    {1, 1}, {1, 2}, {2, 1}, {1, 3}, {3, 1}, {1, 4}, {4, 1}, {1, 6}, {6, 1}
  };

  /** One {@code train} run of the recipe: its folder under the recipe's and its own flags. */
  record Phase(String folder, List<String> args) {}

  /** Runs {@code train} with these arguments. */
  interface Train {
    void run(String[] args) throws Exception;
  }

  private TrainRecipe() {}

  /**
   * The built-in model's phases with every instruction stage's steps times {@code scale} (at least
   * one), pinpoints in tiles of {@code side} pixels: v5 (the whole recipe, 3500 instruction steps,
   * then 1500 more in the same run), v6 (a fine-tune with kind sweeps), v7 and v8 (LLaVA-NeXT
   * fine-tunes on tiles), v9 (a gentler fine-tune that asks count, position and attribute-count
   * questions more often), then the two fine-tunes of v10: position sweeps and counts of kinds and
   * colours two shapes share, the tower learning at a tenth of the rate, then the same more gently
   * with fewer such counts and with colour sweeps; last v11: v10's last flags again with half the
   * scenes' fills from the wide colour ranges and the tower learning at a fifth of the rate.
   */
  static List<Phase> builtIn(Path dir, int side, double scale) {
    StringBuilder pinpoints = new StringBuilder();
    for (int[] g : GRID) {
      pinpoints.append(pinpoints.isEmpty() ? "" : ",").append(g[0] * side).append('x');
      pinpoints.append(g[1] * side);
    }
    String[] tiled = {
      "--inventory", "0.2", "--kind-sweep", "0.3", "--image-grid-pinpoints", pinpoints.toString()
    };
    List<Phase> phases = new ArrayList<>();
    phases.add(phase(dir, "base", null, scale, 3500, "--inventory", "0.2"));
    phases.add(phase(dir, "base", null, scale, 5000, "--inventory", "0.2"));
    phases.add(
        phase(dir, "tuned", "base", scale, 2500, "--inventory", "0.2", "--kind-sweep", "0.3"));
    phases.add(phase(dir, "next", "tuned", scale, 2000, tiled));
    phases.add(phase(dir, "next2", "next", scale, 1500, tiled));
    String[] focused =
        with(
            List.of(tiled),
            "--learning-rate",
            "instruct=3e-4",
            "--question-weights",
            "count=1.5,position=2.5,attribute_count=2",
            "--seed",
            "20261206");
    phases.add(phase(dir, "next3", "next2", scale, 1500, focused));
    // The mixture of v10's and v11's fine-tunes.
    List<String> mixture =
        List.of(
            "--inventory",
            "0.2",
            "--kind-sweep",
            "0.2",
            "--image-grid-pinpoints",
            pinpoints.toString(),
            "--question-weights",
            "count=1.5,position=1.5,attribute_count=2");
    // v10's two fine-tunes: the tower learns at a tenth of the rate, as LLaVA-NeXT's does.
    List<String> v10 = List.of(with(mixture, "--tune-tower", "0.1"));
    phases.add(
        phase(
            dir,
            "next4",
            "next3",
            scale,
            1500,
            with(
                v10,
                "--position-sweep",
                "0.15",
                "--repeated-count",
                "0.5",
                "--learning-rate",
                "instruct=3e-4",
                "--seed",
                "20261208")));
    // The second more gently, with colour sweeps and fewer repeated counts.
    String[] gentle = {
      "--color-sweep",
      "0.1",
      "--position-sweep",
      "0.1",
      "--repeated-count",
      "0.15",
      "--learning-rate",
      "instruct=2e-4"
    };
    phases.add(
        phase(
            dir,
            "next5",
            "next4",
            scale,
            1000,
            with(List.of(with(v10, gentle)), "--seed", "20261209")));
    // v11: the same, the tower at a fifth of the rate and half the scenes coloured as other
    // people colour the six colours.
    List<String> v11 = List.of(with(List.of(with(mixture, "--tune-tower", "0.2")), gentle));
    phases.add(
        phase(
            dir,
            LAST,
            "next5",
            scale,
            1000,
            with(v11, "--wide-colors", "0.5", "--seed", "20261214")));
    return phases;
  }

  /** {@code base}'s flags, then {@code more}. */
  private static String[] with(List<String> base, String... more) {
    List<String> all = new ArrayList<>(base);
    all.addAll(List.of(more));
    return all.toArray(String[]::new);
  }

  private static Phase phase(
      Path dir, String folder, String from, double scale, int instruct, String... flags) {
    List<String> args = new ArrayList<>(List.of("--out", dir.resolve(folder).toString()));
    if (from != null) {
      args.add("--init-from");
      args.add(dir.resolve(from).resolve("final").toString());
    }
    args.addAll(List.of(flags));
    args.add("--steps");
    args.add("instruct=" + Math.max(1, Math.round(instruct * scale)));
    return new Phase(folder, List.copyOf(args));
  }

  /**
   * Runs every phase not yet marked done, each through {@code train} with {@code common} flags
   * added; returns the last phase's {@code final} folder.
   */
  static Path run(Path dir, List<Phase> phases, List<String> common, PrintWriter out, Train train)
      throws Exception {
    Files.createDirectories(dir);
    Path done = dir.resolve(DONE);
    int finished = Files.exists(done) ? Files.readAllLines(done, StandardCharsets.UTF_8).size() : 0;
    for (int i = 0; i < phases.size(); i++) {
      Phase p = phases.get(i);
      List<String> args = new ArrayList<>(p.args());
      args.addAll(common);
      String line = String.join(" ", args);
      if (i < finished) {
        out.printf("recipe phase %d/%d done already: train %s%n", i + 1, phases.size(), line);
        continue;
      }
      out.printf("recipe phase %d/%d: train %s%n", i + 1, phases.size(), line);
      out.flush();
      train.run(args.toArray(String[]::new));
      Files.writeString(
          done,
          String.format(Locale.ROOT, "phase %d: train %s%n", i + 1, line),
          StandardCharsets.UTF_8,
          StandardOpenOption.CREATE,
          StandardOpenOption.APPEND);
    }
    return dir.resolve(phases.get(phases.size() - 1).folder()).resolve("final");
  }
}
