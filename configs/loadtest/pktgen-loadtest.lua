-- pktgen-dpdk 23.06 (DPDK 22.11) script for the dvpe two-node load test (docs/loadtest.md).
--   port 0 (net_virtio_user -> dvped lt-a's net_vhost overlay): sends IPv4/UDP frames from
--          lt-a's overlay MAC to lt-b's, so lt-a seals them for lt-b;
--   port 1 (net_virtio_user -> dvped lt-b's net_vhost overlay): receives what lt-b opens.
-- Before and after the traffic it saves both nodes' `dvpectl status --json`; at the end it writes
-- pktgen's own counters, so `perf/loadtest.py --compare DIR` can check every hop exactly.
-- Run: pktgen ... -- -m "1.0,2.1" -f pktgen-loadtest.lua   (the full command is in docs/loadtest.md)
-- pktgen runs this with its own `pktgen` table already there: no `require "Pktgen"` (outside
-- pktgen's source tree that require fails, and pktgen then hangs at its prompt).

-- settings (each may be given in the environment of pktgen instead) ------------------------------
local function setting(name, default) return os.getenv(name) or default end
local dir      = setting("DVPE_LT_DIR", "/tmp/dvpe-lt")                -- the config copy; results go here
local rundir   = setting("DVPE_LT_RUNDIR", "/run/dvpe-loadtest")       -- the nodes' control sockets
local node_a   = setting("DVPE_LT_NODE_A", "lt-a")                     -- the sender's node (port 0)
local node_b   = setting("DVPE_LT_NODE_B", "lt-b")                     -- the receiver's node (port 1)
local dvpectl  = setting("DVPECTL", "dvpectl")                         -- e.g. "/src/dvpe/build/control/dvpectl"
local seconds  = tonumber(setting("DVPE_LT_SECONDS", "10"))            -- seconds of traffic
-- pktgen's size counts the 4 B FCS: 64 -> 60 B frames in dvped; 1452 -> 1448 B frames
local size     = tonumber(setting("DVPE_LT_SIZE", "64"))
local rate     = tonumber(setting("DVPE_LT_RATE", "100"))             -- percent of the port's link speed
local mac_a    = setting("DVPE_LT_MAC_A", "fe:fd:80:00:00:01")         -- node A's overlay MAC (node id 1)
local mac_b    = setting("DVPE_LT_MAC_B", "fe:fd:80:00:00:02")         -- node B's overlay MAC (node id 2)

local function status(node, file)
    local cmd = string.format("%s -S %s/%s.sock %s status --json > %s/%s",
                              dvpectl, rundir, node, node, dir, file)
    if not os.execute(cmd) then
        error("failed: " .. cmd)
    end
end

-- the frames ------------------------------------------------------------------------------------
pktgen.set_mac("0", "src", mac_a)
pktgen.set_mac("0", "dst", mac_b)
pktgen.set_ipaddr("0", "src", "10.88.0.1/24")
pktgen.set_ipaddr("0", "dst", "10.88.0.2")
pktgen.set_proto("0", "udp")
pktgen.set("0", "sport", 1234)
pktgen.set("0", "dport", 5678)
pktgen.set("0", "size", size)
pktgen.set("0", "rate", rate)
pktgen.set("0", "count", 0)                   -- until stopped

-- the run ---------------------------------------------------------------------------------------
pktgen.delay(2000)                            -- links up, anything sent at port start drained
pktgen.clear("all")
status(node_a, "a-before.json")
status(node_b, "b-before.json")
pktgen.start("0")
pktgen.delay(seconds * 1000)
pktgen.stop("0")
pktgen.delay(2000)                            -- let lt-a, the WAN and lt-b drain
status(node_a, "a-after.json")
status(node_b, "b-after.json")

local st = pktgen.portStats("all", "port")
local f = assert(io.open(dir .. "/pktgen.txt", "w"))
f:write(string.format("size %d\n", size - 4))
f:write(string.format("port0_opackets %d\nport0_obytes %d\n", st[0].opackets, st[0].obytes))
f:write(string.format("port1_ipackets %d\nport1_ibytes %d\n", st[1].ipackets, st[1].ibytes))
f:write(string.format("port1_opackets %d\nport0_ipackets %d\n", st[1].opackets, st[0].ipackets))
f:close()
print(string.format("pktgen: port 0 sent %d, port 1 received %d (written to %s/pktgen.txt)",
                    st[0].opackets, st[1].ipackets, dir))
pktgen.quit()
