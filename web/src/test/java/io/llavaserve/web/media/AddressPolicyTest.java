package io.llavaserve.web.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class AddressPolicyTest {

  @ParameterizedTest(name = "{0} is refused as {1}")
  @CsvSource({
    "127.0.0.1, loopback",
    "127.255.255.254, loopback",
    "10.0.0.1, private",
    "10.255.255.255, private",
    "172.16.0.1, private",
    "172.31.255.255, private",
    "192.168.1.1, private",
    "169.254.0.1, link-local",
    "169.254.169.254, metadata",
    "169.254.170.2, metadata",
    "100.100.100.200, metadata",
    "100.64.0.1, CGNAT",
    "100.127.255.255, CGNAT",
    "0.0.0.0, unspecified",
    "0.1.2.3, unspecified",
    "224.0.0.1, multicast",
    "239.255.255.250, multicast",
    "255.255.255.255, broadcast",
    "240.0.0.1, reserved",
    "192.0.2.10, documentation",
    "198.18.0.1, benchmarking",
    "::1, loopback",
    "::, unspecified",
    "fc00::1, unique local",
    "fd12:3456::1, unique local",
    "fd00:ec2::254, metadata",
    "fe80::1, link-local",
    "febf:ffff::1, link-local",
    "fec0::1, site-local",
    "ff02::1, multicast",
    "2001:db8::1, documentation",
    "64:ff9b::a9fe:a9fe, NAT64 cloud metadata",
    "64:ff9b::7f00:1, NAT64 loopback",
    "2002:7f00:1::, 6to4 loopback",
    "2002:c0a8:101::1, 6to4 private",
    "::7f00:1, IPv4-compatible loopback",
    "2001:0:4136:e378::1, Teredo",
  })
  void refused(String address, String reason) throws Exception {
    Optional<String> r = AddressPolicy.blockedReason(InetAddress.getByName(address), false);
    assertTrue(r.isPresent(), address + " should be refused");
    assertTrue(r.get().contains(reason), r.get() + " should say " + reason);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "169.253.255.255",
        "11.0.0.1",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "64:ff9b::808:808",
        "2002:808:808::1",
      })
  void publicAddressesPass(String address) throws Exception {
    assertEquals(
        Optional.empty(), AddressPolicy.blockedReason(InetAddress.getByName(address), false));
  }

  @Test
  void ipv4MappedIpv6IsJudgedByItsIpv4Address() throws Exception {
    // InetAddress.getByName turns ::ffff:a.b.c.d into an Inet4Address; a raw 16-byte address
    // (as a socket or a custom resolver may hand over) keeps the IPv6 form
    for (String v4 : new String[] {"127.0.0.1", "10.1.2.3", "169.254.169.254", "0.0.0.0"}) {
      byte[] mapped = new byte[16];
      mapped[10] = (byte) 0xff;
      mapped[11] = (byte) 0xff;
      System.arraycopy(InetAddress.getByName(v4).getAddress(), 0, mapped, 12, 4);
      InetAddress a = Inet6Address.getByAddress(null, mapped, null);
      Optional<String> r = AddressPolicy.blockedReason(a, false);
      assertTrue(r.isPresent(), "::ffff:" + v4);
      assertTrue(r.get().startsWith("IPv4-mapped"), r.get());
    }
    assertTrue(
        AddressPolicy.blockedReason(InetAddress.getByName("::ffff:127.0.0.1"), false).isPresent());
    byte[] mappedPublic = new byte[16];
    mappedPublic[10] = (byte) 0xff;
    mappedPublic[11] = (byte) 0xff;
    mappedPublic[12] = 8;
    mappedPublic[13] = 8;
    mappedPublic[14] = 8;
    mappedPublic[15] = 8;
    assertEquals(
        Optional.empty(),
        AddressPolicy.blockedReason(Inet6Address.getByAddress(null, mappedPublic, null), false));
  }

  @ParameterizedTest
  @ValueSource(strings = {"127.0.0.1", "10.0.0.1", "192.168.0.1", "100.64.0.1", "::1", "fd12::1"})
  void allowPrivateLetsInternalRangesThrough(String address) throws Exception {
    assertEquals(
        Optional.empty(), AddressPolicy.blockedReason(InetAddress.getByName(address), true));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {"169.254.169.254", "fd00:ec2::254", "0.0.0.0", "::", "224.0.0.1", "ff02::1"})
  void allowPrivateNeverOpensMetadataUnspecifiedOrMulticast(String address) throws Exception {
    assertTrue(AddressPolicy.blockedReason(InetAddress.getByName(address), true).isPresent());
  }
}
