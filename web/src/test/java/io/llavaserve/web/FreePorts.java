package io.llavaserve.web;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for servers a test starts in another process or binds later. A port that {@code new
 * ServerSocket(0)} hands out lies in the kernel's ephemeral range, so by the time the child binds
 * it an outgoing connection (a Hazelcast member dialling another) may already hold it: these come
 * from below that range instead, are checked free on every interface and on loopback, and are never
 * handed out twice in one JVM.
 */
public final class FreePorts {

  private static final int LOWEST = 10_000;
  private static final Set<Integer> GIVEN = new HashSet<>();

  private FreePorts() {}

  /** A port no listener holds now, outside the ephemeral range, not handed out before. */
  public static synchronized int next() throws IOException {
    int below = ephemeralStart();
    ThreadLocalRandom random = ThreadLocalRandom.current();
    for (int attempt = 0; attempt < 1000; attempt++) {
      int port = random.nextInt(LOWEST, below);
      if (!GIVEN.contains(port) && bindable(port)) {
        GIVEN.add(port);
        return port;
      }
    }
    throw new IOException("no free port between " + LOWEST + " and " + below);
  }

  private static boolean bindable(int port) {
    for (InetSocketAddress address :
        new InetSocketAddress[] {
          new InetSocketAddress(port), new InetSocketAddress(InetAddress.getLoopbackAddress(), port)
        }) {
      try (ServerSocket s = new ServerSocket()) {
        s.setReuseAddress(false);
        s.bind(address);
      } catch (IOException e) {
        return false;
      }
    }
    return true;
  }

  /** The first port of the kernel's ephemeral range (Linux), 32768 where it cannot be read. */
  private static int ephemeralStart() {
    try {
      String range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim();
      int start = Integer.parseInt(range.split("\\s+")[0]);
      return start > LOWEST + 1000 ? start : 32_768;
    } catch (IOException | RuntimeException e) {
      return 32_768;
    }
  }
}
