package io.llavaserve.cli;

import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** The {@code llava-serve} launcher: one command with a subcommand per job. */
@Command(
    name = "llava-serve",
    mixinStandardHelpOptions = true,
    version = "llava-serve 0.1.0",
    description = "Streaming inference for LLaVA vision-language models.",
    subcommands = {
      ServeCommand.class,
      GenerateCommand.class,
      InspectCommand.class,
      TokenizeCommand.class,
      MakeTinyCommand.class,
      ExportGgufCommand.class,
      BenchCommand.class,
      BatchCommand.class,
      TrainCommand.class,
      EvalCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  public static void main(String[] args) {
    // Answers are UTF-8 whatever the platform's default charset is.
    CommandLine cli = commandLine();
    cli.setOut(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
    cli.setErr(new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true));
    int code = cli.execute(args);
    System.exit(code);
  }

  /** The command tree, with errors printed as one line rather than a stack trace. */
  static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    cli.setCaseInsensitiveEnumValuesAllowed(true);
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          cmd.getErr().println("error: " + (e.getMessage() != null ? e.getMessage() : e));
          if (System.getenv("LLAVA_SERVE_DEBUG") != null) {
            e.printStackTrace(cmd.getErr());
          }
          return 2;
        });
    return cli;
  }
}
