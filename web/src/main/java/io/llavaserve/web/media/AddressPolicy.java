package io.llavaserve.web.media;

import java.net.InetAddress;
import java.util.Optional;

/**
 * Which resolved addresses an image fetch may connect to: public unicast only. Checked after DNS
 * resolution and on every redirect, against the address actually dialled.
 *
 * <p>Two classes of refusal. <em>Private</em> ranges (loopback, RFC 1918, CGNAT, link-local, ULA)
 * are refused unless {@code allowPrivate} is set for tests. <em>Never</em> ranges (cloud metadata
 * endpoints, unspecified, multicast, broadcast, documentation and reserved blocks, Teredo) are
 * refused always: {@code 0.0.0.0} reaches localhost on Linux, and metadata endpoints hand out
 * credentials. IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged
 * by the embedded address.
 */
public final class AddressPolicy {

  private AddressPolicy() {}

  /** The reason {@code address} is refused, or empty when a fetch may connect to it. */
  public static Optional<String> blockedReason(InetAddress address, boolean allowPrivate) {
    Range r = classify(address.getAddress());
    if (r == null || (r.privateRange && allowPrivate)) {
      return Optional.empty();
    }
    return Optional.of(r.name);
  }

  private record Range(String name, boolean privateRange) {}

  private static Range never(String name) {
    return new Range(name, false);
  }

  private static Range internal(String name) {
    return new Range(name, true);
  }

  private static Range classify(byte[] a) {
    return a.length == 4 ? classify4(toInt(a, 0)) : classify6(a);
  }

  private static Range classify4(int ip) {
    if (ip == v4(169, 254, 169, 254)
        || ip == v4(169, 254, 170, 2)
        || ip == v4(100, 100, 100, 200)) {
      return never("cloud metadata address");
    }
    if (in(ip, v4(0, 0, 0, 0), 8)) {
      return never("unspecified address (0.0.0.0/8)");
    }
    if (in(ip, v4(127, 0, 0, 0), 8)) {
      return internal("loopback address (127.0.0.0/8)");
    }
    if (in(ip, v4(10, 0, 0, 0), 8)
        || in(ip, v4(172, 16, 0, 0), 12)
        || in(ip, v4(192, 168, 0, 0), 16)) {
      return internal("private address (RFC 1918)");
    }
    if (in(ip, v4(100, 64, 0, 0), 10)) {
      return internal("shared CGNAT address (100.64.0.0/10)");
    }
    if (in(ip, v4(169, 254, 0, 0), 16)) {
      return internal("link-local address (169.254.0.0/16)");
    }
    if (in(ip, v4(192, 0, 0, 0), 24) || in(ip, v4(192, 88, 99, 0), 24)) {
      return never("reserved address");
    }
    if (in(ip, v4(192, 0, 2, 0), 24)
        || in(ip, v4(198, 51, 100, 0), 24)
        || in(ip, v4(203, 0, 113, 0), 24)) {
      return never("documentation address");
    }
    if (in(ip, v4(198, 18, 0, 0), 15)) {
      return never("benchmarking address (198.18.0.0/15)");
    }
    if (in(ip, v4(224, 0, 0, 0), 4)) {
      return never("multicast address (224.0.0.0/4)");
    }
    if (in(ip, v4(240, 0, 0, 0), 4)) {
      return never("reserved or broadcast address (240.0.0.0/4)");
    }
    return null;
  }

  private static Range classify6(byte[] a) {
    int w0 = toInt(a, 0);
    int w1 = toInt(a, 4);
    int w2 = toInt(a, 8);
    int w3 = toInt(a, 12);
    if (w0 == 0xfd000ec2 && w1 == 0 && w2 == 0 && w3 == 0x254) {
      return never("cloud metadata address");
    }
    if (w0 == 0 && w1 == 0 && w2 == 0) {
      if (w3 == 0) {
        return never("unspecified address (::)");
      }
      if (w3 == 1) {
        return internal("loopback address (::1)");
      }
      return embedded("IPv4-compatible", w3);
    }
    if (w0 == 0 && w1 == 0 && w2 == 0xffff) {
      return embedded("IPv4-mapped", w3);
    }
    if (w0 == 0x0064ff9b && w1 == 0 && w2 == 0) {
      return embedded("NAT64", w3);
    }
    if (w0 == 0x0064ff9b && (w1 >>> 16) == 0x0001) {
      return internal("local-use NAT64 address (64:ff9b:1::/48)");
    }
    if ((w0 >>> 16) == 0x2002) {
      return embedded("6to4", (w0 << 16) | (w1 >>> 16));
    }
    if (w0 == 0x20010000) {
      return never("Teredo address (2001::/32)");
    }
    if (w0 == 0x20010db8) {
      return never("documentation address (2001:db8::/32)");
    }
    if (w0 == 0x01000000 && w1 == 0) {
      return never("discard-only address (100::/64)");
    }
    int top = a[0] & 0xff;
    if ((top & 0xfe) == 0xfc) {
      return internal("unique local address (fc00::/7)");
    }
    if (top == 0xfe && (a[1] & 0xc0) == 0x80) {
      return internal("link-local address (fe80::/10)");
    }
    if (top == 0xfe && (a[1] & 0xc0) == 0xc0) {
      return internal("site-local address (fec0::/10)");
    }
    if (top == 0xff) {
      return never("multicast address (ff00::/8)");
    }
    return null;
  }

  private static Range embedded(String form, int ip4) {
    Range inner = classify4(ip4);
    return inner == null ? null : new Range(form + " " + inner.name, inner.privateRange);
  }

  private static boolean in(int ip, int network, int prefix) {
    int mask = prefix == 0 ? 0 : -1 << (32 - prefix);
    return (ip & mask) == (network & mask);
  }

  private static int v4(int a, int b, int c, int d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
  }

  private static int toInt(byte[] a, int at) {
    return ((a[at] & 0xff) << 24)
        | ((a[at + 1] & 0xff) << 16)
        | ((a[at + 2] & 0xff) << 8)
        | (a[at + 3] & 0xff);
  }
}
