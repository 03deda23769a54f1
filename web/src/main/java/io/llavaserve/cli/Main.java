package io.llavaserve.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code llava-serve} launcher: one command with a subcommand per job. */
@Command(
    name = "llava-serve",
    mixinStandardHelpOptions = true,
    version = "llava-serve 0.1.0",
    description = "Streaming inference for LLaVA vision-language models.",
    subcommands = {
      GenerateCommand.class,
      InspectCommand.class,
      TokenizeCommand.class,
      MakeTinyCommand.class,
      BenchCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main implements Runnable {

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }

  public static void main(String[] args) {
    int code = commandLine().execute(args);
    System.exit(code);
  }

  /** The command tree, with errors printed as one line rather than a stack trace. */
  static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Main());
    cli.setExecutionExceptionHandler(
        (e, cmd, parsed) -> {
          cmd.getErr().println("error: " + e.getMessage());
          if (System.getenv("LLAVA_SERVE_DEBUG") != null) {
            e.printStackTrace(cmd.getErr());
          }
          return 2;
        });
    return cli;
  }
}
