# SPDX-License-Identifier: MIT
"""The exception path (issue 16 point 1, docs/exception-path.md) on real dvped nodes.

    ns <tag>-u      bridge br0 10.77.0.254/24, fd77::254/64: a host on the WAN (ssh and DNS client)
    <tag>-alpha     dvped, WAN port wan0 (net_af_packet on wan-alpha) 10.77.0.1/24 and fd77::1/64,
                    `exception = wan0 wanx`: the kernel's interface wanx carries the same addresses
                    and MAC, a TCP echo server (port 2222) and a DNS responder (port 53) listen there
    <tag>-beta      dvped, WAN 10.77.0.2/24

While alpha and beta carry encrypted traffic on the same port, the host on the WAN reaches
alpha's kernel over TCP (IPv4 and IPv6) and DNS; alpha's kernel reaches the host (ping, TCP),
which needs its ARP and ND to work through the engine. The engine still answers ARP, ND and
echo for the port's addresses itself. A flood at the kernel's address is cut at exception-rate
(exception_limit) and the overlay keeps working. The WAN's veth has no address of its own in
alpha's namespace: only the exception interface gives the kernel the WAN addresses.
"""
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import dvpe_client as dc  # noqa: E402
import dvpe_netns as tb  # noqa: E402
import test_mesh as tm  # noqa: E402
import test_overlay as to  # noqa: E402

RATE = 300  # exception-rate: packets a second each way (bursts of 64)

# A TCP echo server on both families and a DNS responder answering every A query with 192.0.2.7.
SERVERS = r'''
import socket, struct, sys, threading
def tcp(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 2222)); s.listen(8)
    while True:
        c, _ = s.accept()
        data = c.recv(4096)
        c.sendall(b"echo:" + data)
        c.close()
def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.77.0.1", 53))
    while True:
        q, peer = s.recvfrom(512)
        if len(q) < 12:
            continue
        end = 12
        while end < len(q) and q[end] != 0:
            end += q[end] + 1
        question = q[12:end + 5]
        hdr = q[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00"
        answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([192, 0, 2, 7])
        s.sendto(hdr + question + answer, peer)
for a in ((socket.AF_INET, "10.77.0.1"), (socket.AF_INET6, "fd77::1")):
    threading.Thread(target=tcp, args=a, daemon=True).start()
threading.Thread(target=dns, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''

# The WAN host's side, run in the underlay namespace: one TCP exchange, one DNS query.
CLIENT = r'''
import socket, struct, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
c = socket.create_connection((sys.argv[1], 2222), timeout=10)
c.sendall(b"hello exception path")
print(c.recv(4096).decode())
c.close()
if fam == socket.AF_INET:
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x03www\x07example\x03org\x00\x00\x01\x00\x01"
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(10)
    u.sendto(q, (sys.argv[1], 53))
    r, _ = u.recvfrom(512)
    print("dns id %04x answers %d addr %s" % (struct.unpack(">H", r[:2])[0], struct.unpack(">H", r[6:8])[0],
                                               socket.inet_ntoa(r[-4:])))
'''


def state(node, other):
    return dc.peers_by_name(node.ctl("peers"))[other]["state"]


def workers(node):
    return node.ctl("status")["workers"]


def total(node, key):
    return sum(w[key] for w in workers(node))


def drops(node, reason):
    return sum(w["drops"].get(reason, 0) for w in workers(node))


@unittest.skipUnless(os.geteuid() == 0, "needs root for network namespaces")
class ExceptionPath(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # alpha with two workers: the exception interface has a queue pair per worker
        extra = "\n".join(["on alpha exception = wan0 wanx", "on alpha wan-address = wan0 fd77::1/64",
                           "on alpha wan-gateway = wan0 10.77.0.254", "on alpha exception-rate = %d" % RATE,
                           "on alpha worker-lcores = 1,2", "on alpha eal-args = --lcores=0@0,1@1,2@1"])
        cls.mesh = to.make_mesh(["alpha", "beta"], extra=extra)
        m = cls.mesh
        cls.servers = None
        try:
            # the WAN host: IPv6 on its bridge, checksums completed before alpha's af_packet port
            m.underlay_sh(["sysctl", "-qw", "net.ipv6.conf.br0.disable_ipv6=0"])
            m.underlay_sh(["ip", "addr", "add", "fd77::254/64", "dev", "br0", "nodad"])
            tb.tx_checksum_off(m.underlay, "br0")
            a = m.nodes["alpha"]
            # IPv6 for interfaces made from now on (the test bed turns it off): wanx gets fd77::1
            a.sh(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=0"])
            a.sh(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"])
            a.sh(["sysctl", "-qw", "net.ipv6.conf.wan-alpha.disable_ipv6=1"])
            # alpha's kernel must not take the WAN's frames from the veth itself (it would: it has
            # 10.77.0.1 on wanx, and Linux accepts a local address on any interface): an nftables
            # netdev ingress drop, which the af_packet port sees before (packet taps come first)
            tb.veth_to_engine_only(a)
            for n in m.nodes.values():
                n.start()
            tm.overlay_addresses(m.nodes, ["alpha", "beta"])
            cls.servers = subprocess.Popen(["ip", "netns", "exec", a.ns, sys.executable, "-c", SERVERS],
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert cls.servers.stdout.readline().strip() == "ready"
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.servers is not None:
            cls.servers.kill()
            cls.servers.wait()
        cls.mesh.cleanup()  # stops the daemons; raises if one failed its exit checks

    def diag(self):
        a = self.mesh.nodes["alpha"]
        return "\nalpha workers %s\nwanx: %s\nalpha log tail:\n%s" % (
            workers(a), a.sh(["ip", "-d", "addr", "show", "wanx"], check=False).stdout, a.log()[-3000:])

    def test_1_the_kernel_interface_has_the_ports_mac_and_addresses(self):
        a = self.mesh.nodes["alpha"]
        link = a.sh(["ip", "-o", "link", "show", "wanx"]).stdout
        self.assertIn("link/ether %s" % tb.wan_mac(1), link)
        self.assertIn("mtu 1500", link)
        self.assertIn("UP", link)
        addrs = a.sh(["ip", "-o", "addr", "show", "wanx"]).stdout
        self.assertIn("inet 10.77.0.1/24", addrs)
        self.assertIn("inet6 fd77::1/64", addrs)
        self.assertIn("default via 10.77.0.254 dev wanx", a.sh(["ip", "route", "show", "default"]).stdout)
        self.assertIn("exception interface wanx", a.log())

    def test_2_ssh_like_tcp_and_dns_reach_the_kernel_beside_encrypted_traffic(self):
        a, b = self.mesh.nodes["alpha"], self.mesh.nodes["beta"]
        dc.wait_for(lambda: state(a, "beta") == "up", 30, "alpha <-> beta up", self.diag)
        in0, out0 = total(a, "exception_in"), total(a, "exception_out")
        dec0 = total(b, "decrypted")
        ping = subprocess.Popen(["ip", "netns", "exec", a.ns, "ping", "-n", "-q", "-c", "30", "-i", "0.1",
                                 to.overlay_ip(2)], stdout=subprocess.PIPE, text=True)
        for dst in ("10.77.0.1", "fd77::1"):
            r = tb.sh([sys.executable, "-c", CLIENT, dst], ns=self.mesh.underlay, check=False, timeout=60)
            self.assertEqual(r.returncode, 0, dst + ": " + r.stdout + r.stderr + self.diag())
            self.assertIn("echo:hello exception path", r.stdout)
            if dst == "10.77.0.1":
                self.assertIn("dns id 1234 answers 1 addr 192.0.2.7", r.stdout)
        out, _ = ping.communicate(timeout=30)
        self.assertIn(" 0% packet loss", out, out + self.diag())
        # two TCP exchanges (SYN, data, FIN, ACKs: >= 4 each way apiece) and a DNS query
        self.assertGreaterEqual(total(a, "exception_in") - in0, 9, self.diag())
        self.assertGreaterEqual(total(a, "exception_out") - out0, 9, self.diag())
        self.assertGreaterEqual(total(b, "decrypted") - dec0, 30)
        for w in workers(a):
            self.assertEqual(w["rx_packets"], tb.balance(w), w)

    def test_3_the_kernel_reaches_the_wan_and_the_engine_still_answers_for_the_port(self):
        a, u = self.mesh.nodes["alpha"], self.mesh.underlay
        copies0 = total(a, "exception_copies")
        replies0 = total(a, "arp_replies")
        echo0 = total(a, "icmp_echo_replies")
        a.sh(["ip", "neigh", "flush", "dev", "wanx"], check=False)
        # the kernel's own ARP and ND through the engine: a reply reaches both (copy to the kernel)
        for dst in ("10.77.0.254", "fd77::254"):
            r = a.sh(["ping", "-n", "-c", "3", "-i", "0.2", "-w", "10", dst], check=False)
            self.assertEqual(r.returncode, 0, dst + ": " + r.stdout + self.diag())
        self.assertGreaterEqual(total(a, "exception_copies") - copies0, 2, self.diag())
        # the host on the WAN pings alpha's address: the engine answers (ARP/ND and echo), not the kernel
        tb.sh(["ip", "neigh", "flush", "dev", "br0"], ns=u, check=False)
        for dst in ("10.77.0.1", "fd77::1"):
            r = tb.sh(["ping", "-n", "-c", "3", "-i", "0.2", "-w", "10", dst], ns=u, check=False)
            self.assertEqual(r.returncode, 0, dst + ": " + r.stdout + self.diag())
        self.assertGreaterEqual(total(a, "icmp_echo_replies") - echo0, 6)
        self.assertGreaterEqual(total(a, "arp_replies") - replies0, 1)
        # TCP from the kernel out to the WAN host
        srv = subprocess.Popen(["ip", "netns", "exec", u, sys.executable, "-c",
                                "import socket; s=socket.create_server(('10.77.0.254', 2323)); c,_=s.accept();"
                                "c.sendall(c.recv(100).upper()); c.close()"])
        try:
            tb.wait_listening(u, 2323)
            r = a.sh([sys.executable, "-c", "import socket; c=socket.create_connection(('10.77.0.254', 2323), 10);"
                      "c.sendall(b'from the kernel'); print(c.recv(100).decode())"], check=False)
            self.assertEqual(r.stdout.strip(), "FROM THE KERNEL", r.stdout + r.stderr + self.diag())
        finally:
            srv.kill()
            srv.wait()

    def test_4_unicast_for_another_address_never_reaches_the_kernel(self):
        # A WAN host sends to alpha's MAC for an overlay address: the kernel (a VPN gateway's, it
        # may forward) must never see it -- not_for_us at the engine, not a packet on wanx.
        a, u = self.mesh.nodes["alpha"], self.mesh.underlay
        nf0, in0 = drops(a, "not_for_us"), total(a, "exception_in")
        tb.sh(["ip", "route", "replace", "10.99.0.0/24", "via", "10.77.0.1"], ns=u)
        try:
            tb.sh([sys.executable, "-c", "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                   "for i in range(20): s.sendto(b'x', ('10.99.0.7', 9999))\n"], ns=u)
            dc.wait_for(lambda: drops(a, "not_for_us") - nf0 >= 20, 10, "20 not_for_us", self.diag)
        finally:
            tb.sh(["ip", "route", "del", "10.99.0.0/24"], ns=u, check=False)
        self.assertLess(total(a, "exception_in") - in0, 5, self.diag())  # at most ND / ARP noise

    def test_5_a_flood_at_the_kernel_is_cut_at_the_rate_and_the_overlay_keeps_going(self):
        a = self.mesh.nodes["alpha"]
        lim0 = drops(a, "exception_limit")
        flood = ("import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                 "for i in range(5000): s.sendto(b'x' * 64, ('10.77.0.1', 9999))\n")
        tb.sh([sys.executable, "-c", flood], ns=self.mesh.underlay, timeout=60)
        dc.wait_for(lambda: drops(a, "exception_limit") - lim0 > 1000, 10, "exception_limit counted", self.diag)
        r = a.sh(["ping", "-n", "-q", "-c", "5", "-i", "0.2", "-w", "10", to.overlay_ip(2)], check=False)
        self.assertIn(" 0% packet loss", r.stdout, r.stdout + self.diag())
        for w in workers(a):
            self.assertEqual(w["rx_packets"], tb.balance(w), w)


if __name__ == "__main__":
    tb.main()
