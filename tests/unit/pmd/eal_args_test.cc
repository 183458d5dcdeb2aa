// SPDX-License-Identifier: MIT
// EAL argument construction from the engine layout, and devargs classification.
#include <gtest/gtest.h>

#include "pmd/eal.hh"
#include "pmd/port.hh"

namespace {

TEST(eal_args, no_huge_layout) {
    pmd::eal_options o;
    o.file_prefix = "dvpe-alpha";
    o.main_lcore = 0;
    o.worker_lcores = {1, 3};
    o.hugepages = false;
    o.memory_mb = 256;
    o.extra_args = " --log-level=pmd.net.tap:8   --no-telemetry ";
    std::vector<std::string> want{"dvped", "-l", "0,1,3", "--main-lcore", "0", "--file-prefix", "dvpe-alpha",
                                  "--no-huge", "-m", "256", "--no-pci", "--log-level=pmd.net.tap:8", "--no-telemetry"};
    EXPECT_EQ(pmd::build_eal_args(o), want);
}

TEST(eal_args, hugepages_and_pci) {
    pmd::eal_options o;
    o.main_lcore = 2;
    o.worker_lcores = {0};
    o.pci_allow = {"0000:01:00.0", "0000:01:00.1"};
    o.log_level = "*:warning";
    std::vector<std::string> want{"dvped", "-l", "2,0", "--main-lcore", "2", "--huge-unlink", "-a", "0000:01:00.0",
                                  "-a", "0000:01:00.1", "--log-level=*:warning"};
    EXPECT_EQ(pmd::build_eal_args(o), want);
}

// capture = yes: the hugepage files stay for dpdk-dumpcap to map
TEST(eal_args, capture_keeps_the_hugepage_files) {
    pmd::eal_options o;
    o.worker_lcores = {1};
    o.huge_unlink = false;
    std::vector<std::string> want{"dvped", "-l", "0,1", "--main-lcore", "0", "--no-pci"};
    EXPECT_EQ(pmd::build_eal_args(o), want);
}

TEST(eal_args, lcores_map_replaces_the_list) {
    pmd::eal_options o;
    o.main_lcore = 0;
    o.worker_lcores = {1, 2};
    o.hugepages = false;
    o.extra_args = "--lcores=0@0,1@1,2@1";
    std::vector<std::string> want{"dvped", "--main-lcore", "0", "--no-huge", "-m", "512", "--no-pci",
                                  "--lcores=0@0,1@1,2@1"};
    EXPECT_EQ(pmd::build_eal_args(o), want);
}

TEST(devargs, pci_or_vdev) {
    EXPECT_TRUE(pmd::is_pci_devargs("0000:01:00.0"));
    EXPECT_TRUE(pmd::is_pci_devargs("01:00.1"));
    EXPECT_TRUE(pmd::is_pci_devargs("0000:3b:00.0,rxq_cqe_comp_en=0"));
    EXPECT_FALSE(pmd::is_pci_devargs("net_af_packet0,iface=eth0"));
    EXPECT_FALSE(pmd::is_pci_devargs("net_tap0"));
    EXPECT_FALSE(pmd::is_pci_devargs(""));
    EXPECT_EQ(pmd::devargs_name("net_af_packet0,iface=eth0,qpairs=2"), "net_af_packet0");
    EXPECT_EQ(pmd::devargs_name("net_null0"), "net_null0");
}

TEST(mac, lower_case_colon_format) {
    rte_ether_addr m{{0xfe, 0xfd, 0x80, 0x00, 0x0A, 0xBC}};
    EXPECT_EQ(pmd::mac_str(m), "fe:fd:80:00:0a:bc");
}

}  // namespace
